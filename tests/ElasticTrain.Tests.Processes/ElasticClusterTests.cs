namespace ElasticTrain.Tests.Processes;

/// <summary>
/// Real processes on loopback: nodes join a running job and die under it, and its loss curve stays
/// that of a static 1-rank run (DESIGN properties 1 and 2).
/// </summary>
public sealed class ElasticClusterTests(ReferenceRun reference) : IClassFixture<ReferenceRun>
{
    [Fact]
    public async Task A_node_that_joins_mid_run_gets_work_and_the_curve_is_unchanged()
    {
        using var job = new ClusterJob();
        var port = ClusterJob.FreePort();
        using var train = job.StartTrain(reference.Data, port, ranks: 1);
        await job.WaitFor(j => j.LastStep() >= 20, "20 steps on one rank", train);
        using var node = job.StartNode(port, ranks: 2, "worker");

        Assert.True(await train.WaitAsync(TimeSpan.FromMinutes(3)) == 0, train.Output);
        Assert.True(await node.WaitAsync(TimeSpan.FromSeconds(30)) == 0, node.Output);
        var worlds = job.Records("step").Select(r => r.GetProperty("world").GetInt32()).ToList();
        Assert.Equal(1, worlds[0]);
        Assert.Equal(3, worlds[^1]);
        Assert.Equal(3, Assert.Single(job.Records("generation")).GetProperty("world").GetInt32());
        reference.AssertSameCurve(job);
        reference.AssertEachSampleOncePerEpoch(job);
    }

    [Fact]
    public async Task Kill_9_of_a_worker_node_shrinks_the_world_and_loses_no_step()
    {
        using var job = new ClusterJob();
        var port = ClusterJob.FreePort();
        using var train = job.StartTrain(reference.Data, port, ranks: 1);
        await job.WaitFor(j => j.LastStep() >= 10, "10 steps on one rank", train);
        using var node = job.StartNode(port, ranks: 2, "worker");
        await job.WaitFor(j => j.Records("step").Count(r => r.GetProperty("world").GetInt32() == 3) >= 10, "10 steps with the worker", train, node);
        node.KillHard();
        var killedAt = job.LastStep();

        Assert.True(await train.WaitAsync(TimeSpan.FromMinutes(3)) == 0, train.Output);
        var steps = job.Records("step");
        Assert.Equal(1, steps[^1].GetProperty("world").GetInt32());
        Assert.Contains(steps, r => r.GetProperty("world").GetInt32() == 3);
        // The survivor kept its committed state: no checkpoint was reloaded, at most the interrupted step ran again.
        Assert.Empty(job.Records("resume"));
        Assert.True(killedAt < ClusterJob.Steps - 10, $"the job was nearly over ({killedAt}) when the worker died");
        reference.AssertSameCurve(job);
        reference.AssertEachSampleOncePerEpoch(job);
    }
}
