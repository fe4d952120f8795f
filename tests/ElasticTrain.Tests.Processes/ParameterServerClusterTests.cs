using System.Text.Json;
using System.Text.RegularExpressions;
using Xunit.Abstractions;

namespace ElasticTrain.Tests.Processes;

/// <summary>
/// Parameter-server mode (bsp) on real processes: each node runs a worker and hosts the parameter
/// shards Akka.Cluster.Sharding places on it, and the workers push their gradient sums to the
/// shards and pull the applied values over the data plane, between processes. Sharding starts every
/// shard on the first node and moves shards onto nodes as they join (ByteBalancedAllocation, at each
/// rebalance-interval, 10 s); a moved shard, or one whose node died, starts again holding nothing,
/// so every shard loads the last checkpoint and the steps after it run again. Whatever moves or
/// dies, the curve is the static 1-rank all-reduce curve, every step and every sample once.
/// </summary>
/// <remarks>
/// `train` logs at INFO, for Akka's rebalance rounds ("Starting rebalance for shards [...]") and the
/// coordinator's reloads ("parameter shards hold steps [...]; all load ..."); the nodes log at DEBUG,
/// for the shards their region starts ("Starting shard [...] in region"), which nothing else shows.
/// </remarks>
[Collection(ClusterCollection.Name)]
public sealed partial class ParameterServerClusterTests(ReferenceRun reference, ITestOutputHelper output)
{
    /// <summary>
    /// Four shards of about equal bytes: on two nodes one moves off the first (which held more than
    /// its fair share plus a shard), on three the first keeps two and each other node gets one.
    /// </summary>
    private const int Shards = 4;

    /// <summary>
    /// `train` and two nodes, one worker each: the nodes join after ten steps, Sharding moves shards
    /// onto them, and the job finishes on three workers. The workers' pushes and pulls cross process
    /// boundaries every step, and the shards' sums are the global batch's whatever process sent them.
    /// </summary>
    [Fact]
    public async Task Bsp_on_three_processes_trains_with_the_curve_of_one_all_reduce_rank()
    {
        using var job = PsJob();
        var port = ClusterJob.FreePort();
        using var train = job.StartTrain(reference.Data, port, ranks: 1);
        await job.WaitFor(j => j.LastStep() >= 10, "10 steps on one worker", train);
        using var a = StartNode(job, port, "a");
        using var b = StartNode(job, port, "b");

        Assert.True(await train.WaitAsync(TimeSpan.FromMinutes(3)) == 0, train.Output + job.LogTails());
        foreach (var node in new[] { a, b }) Assert.True(await node.WaitAsync(TimeSpan.FromMinutes(1)) == 0, node.Output);
        Describe(job);
        Assert.Equal($"parameter server (bsp, {Shards} shards)", Assert.Single(job.Records("start")).GetProperty("recipe").GetString());
        AssertFinishedWithTheReferenceCurve(job, world: 3);
    }

    /// <summary>
    /// The first node to take a shard is killed with SIGKILL after a checkpoint taken since it took
    /// the shard, some steps past it. The shard's state dies with the node: once the cluster has
    /// removed the node, Sharding starts the shard anew on a survivor, every shard loads that
    /// checkpoint, the committed steps after it run again with their journaled losses (no update
    /// lost), each is committed once (none doubled), and the job finishes on the two survivors.
    /// </summary>
    [Fact]
    public async Task Kill_9_of_a_node_hosting_a_shard_reloads_the_checkpoint_and_loses_or_doubles_no_update()
    {
        // Still running after a loaded machine's slow node starts, a rebalance round (every 10 s) and a checkpoint.
        using var job = PsJob(steps: 1200);
        var port = ClusterJob.FreePort();
        using var train = job.StartTrain(reference.Data, port, ranks: 1);
        await job.WaitFor(j => j.LastStep() >= 10, "10 steps on one worker", train);
        using var a = StartNode(job, port, "a");
        using var b = StartNode(job, port, "b");
        // Whichever node a rebalance round serves first: the two may join a round apart.
        await job.WaitFor(j => ShardsStartedOn(j, "a").Count + ShardsStartedOn(j, "b").Count > 0, "a shard on a node", train, a, b);
        var doomed = ShardsStartedOn(job, "a").Count > 0 ? "a" : "b";
        var (victim, survivor) = doomed == "a" ? (a, b) : (b, a);
        var hosting = job.LastStep();
        // A step after this one is committed with the node's shard holding its state: its checkpoint has the node's part.
        await job.WaitFor(j => LastCheckpoint(j) > hosting && j.LastStep() >= LastCheckpoint(j) + 5, "a checkpoint with the node's part, and 5 steps past it", train, a, b);
        var checkpoint = LastCheckpoint(job);
        var killedAt = job.LastStep();
        var generation = job.Records("step")[^1].GetProperty("generation").GetInt64();
        var reloads = HeldSteps(job).Count;
        victim.KillHard();

        Assert.True(await train.WaitAsync(TimeSpan.FromMinutes(3)) == 0, train.Output + job.LogTails());
        Assert.True(await survivor.WaitAsync(TimeSpan.FromMinutes(1)) == 0, survivor.Output);
        Describe(job);
        var steps = job.Records("step");
        var lost = ShardsStartedOn(job, doomed);
        // The survivors notice the dead worker's links at once; the dead node's shard answers again
        // once the cluster has removed the node (about 5 s): well within the exchange timeout (60 s).
        var pause = ClusterJob.PauseAfter(steps, killedAt);
        output.WriteLine($"pause after kill -9 of node {doomed}, hosting shard(s) {string.Join(", ", lost)}, at step {killedAt}: {pause.TotalSeconds:0.00} s");
        Assert.True(pause < TimeSpan.FromSeconds(30), $"the job paused {pause.TotalSeconds:0.0} s after the node died:\n{job.Log("train")}");

        // The dead node's shards started anew holding nothing, and every shard loaded the checkpoint.
        Assert.Contains(HeldSteps(job).Skip(reloads), held => lost.All(shard => held[shard] == -1));
        var resume = job.Records("resume").Last(r => r.GetProperty("generation").GetInt64() > generation);
        Assert.InRange(resume.GetProperty("from_step").GetInt64(), checkpoint + 1, killedAt);
        // Every update committed after that checkpoint ran again and reproduced its journaled loss:
        // the reloaded state is the one the job had, also where the kill came past the reference's steps.
        var replayed = job.Records("replay").Where(r => r.GetProperty("generation").GetInt64() >= resume.GetProperty("generation").GetInt64())
            .Select(r => r.GetProperty("step").GetInt64()).ToHashSet();
        for (var step = resume.GetProperty("from_step").GetInt64(); step <= killedAt; step++) Assert.Contains(step, replayed);
        AssertFinishedWithTheReferenceCurve(job, world: 2);
    }

    /// <summary>
    /// A job runs on `train` and one node, a shard already moved onto it; a third node joins mid-run.
    /// Sharding's next rebalance round moves a shard off the first node, which now holds more than
    /// its fair share plus a shard, onto the newcomer, the lightest; the moved shard starts empty,
    /// every shard reloads the last checkpoint, and the curve is unchanged.
    /// </summary>
    [Fact]
    public async Task A_node_joining_mid_run_takes_a_shard_and_the_curve_is_unchanged()
    {
        // Long enough to outlast a rebalance round (every 10 s) after each node has joined: the move
        // onto the newcomer comes about 30 s and 600 steps into the job on a 2-core machine.
        using var job = PsJob(steps: 1200);
        var port = ClusterJob.FreePort();
        using var train = job.StartTrain(reference.Data, port, ranks: 1);
        await job.WaitFor(j => j.LastStep() >= 10, "10 steps on one worker", train);
        using var a = StartNode(job, port, "a");
        await job.WaitFor(j => ShardsStartedOn(j, "a").Count > 0, "a shard on node a", train, a);
        var settled = job.LastStep();
        await job.WaitFor(j => j.LastStep() >= settled + 20, "20 steps with the shards settled on two nodes", train, a);
        var rounds = Rebalances(job).Count;
        var joinedAt = job.LastStep();
        using var b = StartNode(job, port, "b");

        Assert.True(await train.WaitAsync(TimeSpan.FromMinutes(3)) == 0, train.Output + job.LogTails());
        foreach (var node in new[] { a, b }) Assert.True(await node.WaitAsync(TimeSpan.FromMinutes(1)) == 0, node.Output);
        Describe(job);
        var moved = ShardsStartedOn(job, "b");
        Assert.True(moved.Count > 0, $"no shard moved onto the node that joined at step {joinedAt}:\n{job.Log("train")}");
        Assert.Contains(Rebalances(job).Skip(rounds), round => round.Intersect(moved).Any());
        // The moved shard started empty there, so the generation after the move had every shard reload.
        Assert.Contains(HeldSteps(job), held => moved.All(shard => held[shard] == -1));
        AssertFinishedWithTheReferenceCurve(job, world: 3);
    }

    /// <summary>
    /// The job finished once, on <paramref name="world"/> workers, with the reference's curve and
    /// every sample once per epoch, and every step run again reproduced its journaled loss.
    /// </summary>
    private void AssertFinishedWithTheReferenceCurve(ClusterJob job, int world)
    {
        Assert.Equal(world, job.Records("step")[^1].GetProperty("world").GetInt32());
        Assert.Single(job.Records("finish"));
        job.AssertReplaysMatchTheJournal();
        reference.AssertSameCurve(job);
        reference.AssertEachSampleOncePerEpoch(job);
    }

    /// <summary>A ps job whose `train` logs at INFO and whose nodes log at DEBUG (see the remarks).</summary>
    private static ClusterJob PsJob(int steps = ClusterJob.DefaultSteps)
    {
        var job = new ClusterJob(steps);
        Directory.CreateDirectory(job.Folder);
        File.WriteAllText(Path.Combine(job.Folder, "info.conf"), "akka.loglevel = INFO\n");
        File.WriteAllText(Path.Combine(job.Folder, "debug.conf"), "akka.loglevel = DEBUG\n");
        job.TrainExtra = ["--mode", "ps", "--shards", Shards.ToString(), "--config", Path.Combine(job.Folder, "info.conf")];
        return job;
    }

    private static ElasticTrainProcess StartNode(ClusterJob job, int port, string name) =>
        job.StartNode(port, ranks: 1, name, own: ["--config", Path.Combine(job.Folder, "debug.conf")]);

    private static long LastCheckpoint(ClusterJob job) => job.Records("checkpoint") is { Count: > 0 } all ? all[^1].GetProperty("step").GetInt64() : 0;

    /// <summary>The shards a node's region has started, from its DEBUG log, in order.</summary>
    private static List<int> ShardsStartedOn(ClusterJob job, string node) =>
        [.. StartedShard().Matches(job.Log(node)).Select(m => int.Parse(m.Groups[1].Value))];

    /// <summary>Akka's rebalance rounds, from the coordinator's node's INFO log: the shards each one moved.</summary>
    private static List<int[]> Rebalances(ClusterJob job) =>
        [.. RebalanceRound().Matches(job.Log("train")).Select(m => ShardIndex().Matches(m.Groups[1].Value).Select(i => int.Parse(i.Groups[1].Value)).ToArray())];

    /// <summary>What each shard held whenever the coordinator had them all reload, from its INFO log.</summary>
    private static List<long[]> HeldSteps(ClusterJob job) =>
        [.. Reload().Matches(job.Log("train")).Select(m => m.Groups[1].Value.Split(", ").Select(long.Parse).ToArray())];

    /// <summary>The job's generations and reloads, and the shards each node started, for the test's output.</summary>
    private void Describe(ClusterJob job)
    {
        foreach (var record in job.Records("start").Concat(job.Records("generation")).Concat(job.Records("resume")))
            output.WriteLine(JsonSerializer.Serialize(record));
        foreach (var line in job.Log("train").Split('\n').Where(l => l.Contains("parameter shard") || l.Contains("Starting rebalance") || l.Contains("aborted")))
            output.WriteLine(line);
        foreach (var node in new[] { "a", "b" }) output.WriteLine($"{node} started shards [{string.Join(", ", ShardsStartedOn(job, node))}]");
    }

    [GeneratedRegex(@"Starting shard \[main-shard-(\d+)\] in region")]
    private static partial Regex StartedShard();

    [GeneratedRegex(@"Starting rebalance for shards \[([^\]]*)\]")]
    private static partial Regex RebalanceRound();

    [GeneratedRegex(@"main-shard-(\d+)")]
    private static partial Regex ShardIndex();

    [GeneratedRegex(@"parameter shards hold steps \[([^\]]*)\]; all load")]
    private static partial Regex Reload();
}
