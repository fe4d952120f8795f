using Xunit.Abstractions;

namespace ElasticTrain.Tests.Processes;

/// <summary>
/// Pipeline parallelism on real processes: the mesh grows as nodes join and re-plans when one is
/// killed, and the curve stays the static 1-rank curve, every step and every sample once.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class PipelineMeshTests(ReferenceRun reference, ITestOutputHelper output)
{
    /// <summary>
    /// Two stages, one rank per process: `train` and a node form 1x2; two more nodes join and the
    /// mesh becomes 2x2 (each stage's gradients all-reduced between its two replicas, activations
    /// between processes over TCP). Then one of the four is killed with SIGKILL: the survivors
    /// re-plan to 1x2 with the third idle, the layers of the dead rank come from its live twin in
    /// the other replica, and the job finishes.
    /// </summary>
    [Fact]
    public async Task A_1x2_job_grows_to_2x2_as_nodes_join_then_loses_one_to_kill_9_and_finishes_with_the_same_curve()
    {
        using var job = new ClusterJob { TrainExtra = ["--stages", "2", "--micro-batches", "3"] };
        var port = ClusterJob.FreePort();
        using var train = job.StartTrain(reference.Data, port, ranks: 1);
        await job.WaitFor(_ => train.Output.Contains("waiting for ranks"), "train to wait for a second rank", train);
        using var a = job.StartNode(port, ranks: 1, "a");
        await job.WaitFor(j => j.Records("step").Count(r => r.GetProperty("world").GetInt32() == 2) >= 10, "10 steps on 1x2", train, a);
        using var b = job.StartNode(port, ranks: 1, "b");
        using var c = job.StartNode(port, ranks: 1, "c");
        await job.WaitFor(j => j.Records("step").Count(r => r.GetProperty("world").GetInt32() == 4) >= 10, "10 steps on 2x2", train, a, b, c);
        Assert.Contains(job.Records("generation").Concat(job.Records("start")), r => r.GetProperty("mesh").GetString() == "1x2");
        Assert.Contains(job.Records("generation"), r => r.GetProperty("mesh").GetString() == "2x2");
        Assert.All(job.Records("step").Where(r => r.GetProperty("world").GetInt32() > 1), r => Assert.InRange(r.GetProperty("bubble").GetDouble(), 0, 1));

        var killedAt = job.LastStep();
        c.KillHard();
        await job.WaitFor(j => j.Records("step").Count(r => r.GetProperty("step").GetInt64() > killedAt && r.GetProperty("world").GetInt32() == 2) >= 10,
            "10 steps on 1x2 after the kill", train, a, b);
        output.WriteLine($"pause after kill -9 of a rank of a 2x2 mesh: {ClusterJob.PauseAfter(job.Records("step"), killedAt).TotalSeconds:0.00} s");

        Assert.True(await train.WaitAsync(TimeSpan.FromMinutes(6)) == 0, train.Output);
        foreach (var node in new[] { a, b }) Assert.True(await node.WaitAsync(TimeSpan.FromMinutes(1)) == 0, node.Output);
        Assert.Empty(job.Records("resume")); // no layer was lost: nothing came from disk
        Assert.Single(job.Records("finish"));
        reference.AssertSameCurve(job);
        reference.AssertEachSampleOncePerEpoch(job);
    }

    /// <summary>
    /// One replica of two stages, and a third node idle: a stage's rank is killed with SIGKILL.
    /// Nothing else holds its layers live, but its neighbour keeps an in-memory copy of them (peer
    /// copies, every step by default): the idle node takes the stage from that copy, every stage
    /// goes back to the copy's step, the steps after it run again with their journaled losses,
    /// and nothing is read from disk.
    /// </summary>
    [Fact]
    public async Task A_stage_lost_to_kill_9_comes_back_from_its_neighbours_copy_onto_an_idle_node()
    {
        using var job = new ClusterJob { TrainExtra = ["--stages", "2", "--micro-batches", "2"] };
        var port = ClusterJob.FreePort();
        using var train = job.StartTrain(reference.Data, port, ranks: 1);
        await job.WaitFor(_ => train.Output.Contains("waiting for ranks"), "train to wait for a second rank", train);
        using var a = job.StartNode(port, ranks: 1, "a");
        await job.WaitFor(j => j.Records("step").Count(r => r.GetProperty("world").GetInt32() == 2) >= 10, "10 steps on 1x2", train, a);
        using var spare = job.StartNode(port, ranks: 1, "spare");
        await job.WaitJoined(spare);
        await Task.Delay(TimeSpan.FromSeconds(3)); // the spare registers and idles: 1x2 with three ranks is still 1x2

        // Not within a few steps of a checkpoint (every 50): a checkpoint newer than the last complete
        // copy round is rightly preferred to it, and this test is about the copy.
        await job.WaitFor(j => j.LastStep() % 50 is >= 10 and <= 35, "a step away from a checkpoint", train, a, spare);
        var killedAt = job.LastStep();
        a.KillHard();
        await job.WaitFor(j => j.Records("step").Count(r => r.GetProperty("step").GetInt64() > killedAt + 2) >= 10,
            "10 steps after the kill", train, spare);
        output.WriteLine($"pause after kill -9 of a stage with no twin (restored from the peer copy): {ClusterJob.PauseAfter(job.Records("step"), killedAt).TotalSeconds:0.00} s");
        foreach (var record in job.Records("generation").Concat(job.Records("replay"))) output.WriteLine(record.ToString());
        foreach (var record in job.Records("step").Where(r => Math.Abs(r.GetProperty("step").GetInt64() - killedAt) <= 3)) output.WriteLine(record.ToString());

        Assert.True(await train.WaitAsync(TimeSpan.FromMinutes(6)) == 0, train.Output);
        Assert.True(await spare.WaitAsync(TimeSpan.FromMinutes(1)) == 0, spare.Output);
        Assert.Empty(job.Records("resume")); // the copy, not the checkpoint
        // The steps since the last complete copy round run again: one or two on a quiet machine,
        // more where load makes a round outlast a step (4 seen). A copy lagging further than the
        // last checkpoint would have lost to it, which the empty `resume` above rules out.
        var replays = job.Records("replay");
        Assert.InRange(replays.Count, 1, 35);
        job.AssertReplaysMatchTheJournal();
        Assert.Single(job.Records("finish"));
        reference.AssertSameCurve(job);
        reference.AssertEachSampleOncePerEpoch(job);
    }
}
