using System.Text.Json;
using System.Text.RegularExpressions;
using Xunit.Abstractions;

namespace ElasticTrain.Tests.Processes;

/// <summary>
/// Parameter-server mode (bsp) on real processes: each node runs a worker and hosts the parameter
/// shards and backups Akka.Cluster.Sharding places on it, and the workers push their gradient sums
/// to both replicas of each shard and pull the applied values over the data plane, between
/// processes. Sharding starts every replica on the first node and moves replicas onto nodes as they
/// join (ByteBalancedAllocation, at each rebalance-interval, 10 s: backups that share their shard's
/// node first); a moved replica, or one whose node died, starts again holding nothing and takes its
/// sibling's state; without backups, every shard loads the last checkpoint and the steps after it
/// run again. Whatever moves or dies, the curve is the static 1-rank all-reduce curve, every step
/// and every sample once.
/// </summary>
/// <remarks>
/// `train` logs at INFO, for the coordinator's copies ("... take their sibling's state at step N")
/// and reloads ("the shards hold steps [...]; all load ..."); the nodes log at DEBUG, for the
/// replicas their region starts ("Starting shard [...] in region"), which nothing else shows.
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
        await job.WaitFor(j => j.Records("step").Any(r => r.GetProperty("world").GetInt32() == 3), "three workers", train, a, b);
        // An operator sees every shard and its backup, each on a node, with its bytes and update rate.
        using (var status = ElasticTrainProcess.Start("status", "--join", $"127.0.0.1:{port}"))
        {
            Assert.Equal(0, await status.WaitAsync(TimeSpan.FromSeconds(60)));
            for (var shard = 0; shard < Shards; shard++)
            {
                Assert.Matches($@"shard {shard} \(main-shard-{shard}\): [\d.]+ KiB on 127\.0\.0\.1:\d+, [\d.]+ updates/s", status.Output);
                Assert.Matches($@"backup {shard} \(main-backup-{shard}\): [\d.]+ KiB on 127\.0\.0\.1:\d+", status.Output);
            }
        }

        Assert.True(await train.WaitAsync(TimeSpan.FromMinutes(3)) == 0, train.Output + job.LogTails());
        foreach (var node in new[] { a, b }) Assert.True(await node.WaitAsync(TimeSpan.FromMinutes(1)) == 0, node.Output);
        Describe(job);
        Assert.Equal($"parameter server (bsp, {Shards} shards)", Assert.Single(job.Records("start")).GetProperty("recipe").GetString());
        AssertFinishedWithTheReferenceCurve(job, world: 3);
    }

    /// <summary>
    /// The first node to take a shard or a backup is killed with SIGKILL some steps past a
    /// checkpoint. Every replica it hosted has its sibling on another node (a shard's backup never
    /// shares its node while there is another), which holds every committed step: once the cluster
    /// has removed the node, Sharding starts those replicas anew on a survivor, each takes a copy of
    /// its sibling's state at the last committed step, and the job goes on from there. No checkpoint
    /// is loaded and no step runs again (no update lost, none doubled), and the job finishes on the
    /// two survivors with the reference's curve.
    /// </summary>
    [Fact]
    public async Task Kill_9_of_a_node_hosting_shards_loses_no_update_its_shards_start_again_from_their_backups()
    {
        using var job = PsJob(steps: 1200);
        var (train, victim, survivor, doomed, killedAt) = await KillANodeHostingShards(job);
        using var _ = train;
        using var __ = victim;
        using var ___ = survivor;

        var lost = await FinishedWithoutTheDeadNode(job, train, survivor, doomed, killedAt);

        // Every replica the node hosted took its sibling's state at a step the job had committed by the kill, or after.
        var copies = Copies(job).Where(c => c.Step >= killedAt).ToList();
        Assert.True(lost.All(replica => copies.Any(c => c.Replicas.Contains(replica))),
            $"not every replica of node {doomed} ({string.Join(", ", lost)}) took its sibling's state:\n{job.Log("train")}");
        Assert.Empty(HeldSteps(job)); // no replica pair was lost whole: the checkpoint was never needed
        Assert.Empty(job.Records("resume"));
        Assert.Empty(job.Records("replay"));
        AssertFinishedWithTheReferenceCurve(job, world: 2);
    }

    /// <summary>
    /// Without backups (<c>elastictrain.ps.backup = off</c>) the journal's checkpoint is the fallback:
    /// the dead node's shards start anew holding nothing, every shard loads the last checkpoint, the
    /// committed steps after it run again with their journaled losses (no update lost), each is
    /// committed once (none doubled), and the job finishes with the reference's curve.
    /// </summary>
    [Fact]
    public async Task Without_backups_kill_9_of_a_node_hosting_a_shard_replays_from_the_checkpoint_and_loses_or_doubles_no_update()
    {
        using var job = PsJob(steps: 1200, backup: false);
        var (train, victim, survivor, doomed, killedAt) = await KillANodeHostingShards(job);
        using var _ = train;
        using var __ = victim;
        using var ___ = survivor;
        var checkpoint = LastCheckpoint(job);

        var lost = await FinishedWithoutTheDeadNode(job, train, survivor, doomed, killedAt);

        Assert.Contains(HeldSteps(job), held => lost.All(replica => held[replica] == -1));
        var resume = job.Records("resume").Last();
        Assert.InRange(resume.GetProperty("from_step").GetInt64(), checkpoint + 1, killedAt);
        // Every update committed after that checkpoint ran again and reproduced its journaled loss.
        var replayed = job.Records("replay").Where(r => r.GetProperty("generation").GetInt64() >= resume.GetProperty("generation").GetInt64())
            .Select(r => r.GetProperty("step").GetInt64()).ToHashSet();
        for (var step = resume.GetProperty("from_step").GetInt64(); step <= killedAt; step++) Assert.Contains(step, replayed);
        AssertFinishedWithTheReferenceCurve(job, world: 2);
    }

    /// <summary>
    /// Waits for the job to finish on the survivors, checks that it paused under 30 s after the kill,
    /// and returns the replicas the dead node hosted.
    /// </summary>
    private async Task<List<string>> FinishedWithoutTheDeadNode(ClusterJob job, ElasticTrainProcess train, ElasticTrainProcess survivor, string doomed, long killedAt)
    {
        Assert.True(await train.WaitAsync(TimeSpan.FromMinutes(3)) == 0, train.Output + job.LogTails());
        Assert.True(await survivor.WaitAsync(TimeSpan.FromMinutes(1)) == 0, survivor.Output);
        Describe(job);
        var lost = ReplicasStartedOn(job, doomed);
        var pause = ClusterJob.PauseAfter(job.Records("step"), killedAt);
        output.WriteLine($"pause after kill -9 of node {doomed}, hosting {string.Join(", ", lost)}, at step {killedAt}: {pause.TotalSeconds:0.00} s");
        Assert.True(pause < TimeSpan.FromSeconds(30), $"the job paused {pause.TotalSeconds:0.0} s after the node died:\n{job.Log("train")}");
        return lost;
    }

    /// <summary>
    /// Starts `train`, then two nodes; once a node hosts a replica and a checkpoint has been taken
    /// since, some steps on, kills that node with SIGKILL. Returns the processes, the doomed node's
    /// name and the last step committed before the kill.
    /// </summary>
    private async Task<(ElasticTrainProcess Train, ElasticTrainProcess Victim, ElasticTrainProcess Survivor, string Doomed, long KilledAt)> KillANodeHostingShards(ClusterJob job)
    {
        var port = ClusterJob.FreePort();
        var train = job.StartTrain(reference.Data, port, ranks: 1);
        await job.WaitFor(j => j.LastStep() >= 10, "10 steps on one worker", train);
        var a = StartNode(job, port, "a");
        var b = StartNode(job, port, "b");
        // Whichever node a rebalance round serves first: the two may join a round apart.
        await job.WaitFor(j => ReplicasStartedOn(j, "a").Count + ReplicasStartedOn(j, "b").Count > 0, "a replica on a node", train, a, b);
        var doomed = ReplicasStartedOn(job, "a").Count > 0 ? "a" : "b";
        var (victim, survivor) = doomed == "a" ? (a, b) : (b, a);
        await job.WaitJoined(a, b);
        var hosting = job.LastStep();
        await job.WaitFor(j => LastCheckpoint(j) > hosting && j.LastStep() >= LastCheckpoint(j) + 5, "a checkpoint with the node's part, and 5 steps past it", train, a, b);
        var killedAt = job.LastStep();
        victim.KillHard();
        return (train, victim, survivor, doomed, killedAt);
    }

    /// <summary>
    /// A job runs on `train` and one node, a replica already moved onto it; a third node joins
    /// mid-run. Sharding's next rebalance round moves replicas off the heavier nodes onto the
    /// newcomer; each moved replica starts empty and takes its sibling's state, so no checkpoint is
    /// loaded, no step runs again, and the curve is unchanged.
    /// </summary>
    [Fact]
    public async Task A_node_joining_mid_run_takes_shards_from_their_siblings_and_the_curve_is_unchanged()
    {
        // Long enough to outlast a rebalance round (every 10 s) after each node has joined.
        using var job = PsJob(steps: 1200);
        var port = ClusterJob.FreePort();
        using var train = job.StartTrain(reference.Data, port, ranks: 1);
        await job.WaitFor(j => j.LastStep() >= 10, "10 steps on one worker", train);
        using var a = StartNode(job, port, "a");
        await job.WaitFor(j => ReplicasStartedOn(j, "a").Count > 0, "a replica on node a", train, a);
        var settled = job.LastStep();
        await job.WaitFor(j => j.LastStep() >= settled + 20, "20 steps with the replicas settled on two nodes", train, a);
        var joinedAt = job.LastStep();
        using var b = StartNode(job, port, "b");

        Assert.True(await train.WaitAsync(TimeSpan.FromMinutes(3)) == 0, train.Output + job.LogTails());
        foreach (var node in new[] { a, b }) Assert.True(await node.WaitAsync(TimeSpan.FromMinutes(1)) == 0, node.Output);
        Describe(job);
        var moved = ReplicasStartedOn(job, "b");
        Assert.True(moved.Count > 0, $"no replica moved onto the node that joined at step {joinedAt}:\n{job.Log("train")}");
        Assert.True(moved.All(replica => Copies(job).Any(c => c.Replicas.Contains(replica))),
            $"a replica moved onto node b ({string.Join(", ", moved)}) did not take its sibling's state:\n{job.Log("train")}");
        Assert.Empty(HeldSteps(job));
        Assert.Empty(job.Records("replay"));
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
    private static ClusterJob PsJob(int steps = ClusterJob.DefaultSteps, bool backup = true)
    {
        var job = new ClusterJob(steps);
        Directory.CreateDirectory(job.Folder);
        File.WriteAllText(Path.Combine(job.Folder, "info.conf"), $"akka.loglevel = INFO\nelastictrain.ps.backup = {(backup ? "on" : "off")}\n");
        File.WriteAllText(Path.Combine(job.Folder, "debug.conf"), "akka.loglevel = DEBUG\n");
        job.TrainExtra = ["--mode", "ps", "--shards", Shards.ToString(), "--config", Path.Combine(job.Folder, "info.conf")];
        return job;
    }

    private static ElasticTrainProcess StartNode(ClusterJob job, int port, string name) =>
        job.StartNode(port, ranks: 1, name, own: ["--config", Path.Combine(job.Folder, "debug.conf")]);

    private static long LastCheckpoint(ClusterJob job) => job.Records("checkpoint") is { Count: > 0 } all ? all[^1].GetProperty("step").GetInt64() : 0;

    /// <summary>The replicas (shards and backups, by entity id) a node's region has started, from its DEBUG log, in order.</summary>
    private static List<string> ReplicasStartedOn(ClusterJob job, string node) =>
        [.. StartedReplica().Matches(job.Log(node)).Select(m => m.Groups[1].Value)];

    /// <summary>What each replica held whenever the coordinator had them all load a checkpoint (not the seed, at the start), from its INFO log.</summary>
    private static List<Dictionary<string, long>> HeldSteps(ClusterJob job) =>
        [.. Reload().Matches(job.Log("train")).Select(m => m.Groups[1].Value.Split(", ").Select(e => e.Split(": "))
            .ToDictionary(e => e[0], e => long.Parse(e[1])))];

    /// <summary>The replicas that took their sibling's state, and at which step, from the coordinator's INFO log.</summary>
    private static List<(string[] Replicas, long Step)> Copies(ClusterJob job) =>
        [.. Copy().Matches(job.Log("train")).Select(m => (m.Groups[1].Value.Split(", "), long.Parse(m.Groups[2].Value)))];

    /// <summary>The job's generations and reloads, and the replicas each node started, for the test's output.</summary>
    private void Describe(ClusterJob job)
    {
        foreach (var record in job.Records("start").Concat(job.Records("generation")).Concat(job.Records("resume")))
            output.WriteLine(JsonSerializer.Serialize(record));
        foreach (var line in job.Log("train").Split('\n').Where(l => l.Contains("shard") || l.Contains("sibling") || l.Contains("aborted")))
            output.WriteLine(line);
        foreach (var node in new[] { "a", "b" }) output.WriteLine($"{node} started [{string.Join(", ", ReplicasStartedOn(job, node))}]");
    }

    [GeneratedRegex(@"Starting shard \[(main-(?:shard|backup)-\d+)\] in region")]
    private static partial Regex StartedReplica();

    [GeneratedRegex(@"the shards hold steps \[([^\]]*)\]; all load the checkpoint")]
    private static partial Regex Reload();

    [GeneratedRegex(@"generation \d+: ([^\n]*?) take their sibling's state at step (\d+)")]
    private static partial Regex Copy();
}
