using Xunit.Abstractions;

namespace ElasticTrain.Tests.Processes;

/// <summary>
/// Silent partitions between hosts in network namespaces (<see cref="TestNetwork"/>), with the
/// default configuration. Exactly one side goes on: the one that takes the store's lease. The other
/// says it was removed and either exits (`train`) or joins again once the link heals (`node`). The
/// job finishes once, with the static 1-rank curve and every sample once.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class PartitionTests(ReferenceRun reference, ITestOutputHelper output)
{
    private const int Port = 4053; // the train's: every host has a network namespace, and so the port, of its own

    [SkippableFact]
    public async Task Two_nodes_split_1_1_and_one_side_goes_on()
    {
        using var network = TestNetwork.Create(2);
        using var job = new ClusterJob(steps: 1600);
        // Still running when the cut node joins again (up to about 30 s after the cut: the cut, then
        // a join attempt that times out): unslowed, the train alone once finished 2,000 steps first.
        job.SlowTrain(4);
        var (train, nodes) = await Start(job, network, workers: 1);
        using var _ = train;
        using var node = nodes[0];

        var cutAt = job.LastStep();
        network.Cut(1);
        await Task.Delay(TimeSpan.FromSeconds(12)); // detection, the resolver, the lease: one side has gone on
        network.Heal(1);
        await OneSideWent(job, train, node);
        output.WriteLine($"pause after a 1|1 partition: {ClusterJob.PauseAfter(job.Records("step"), cutAt).TotalSeconds:0.00} s");
    }

    [SkippableFact]
    public async Task Three_nodes_split_2_1_with_the_coordinator_on_the_1_side()
    {
        using var network = TestNetwork.Create(3);
        // Long enough that the cut-off coordinator, stepping alone until it is downed, cannot finish the job first.
        using var job = new ClusterJob(steps: 2400);
        var (train, nodes) = await Start(job, network, workers: 2);
        using var _ = train;
        using var b = nodes[0];
        using var c = nodes[1];

        var cutAt = job.LastStep();
        network.Cut(0);
        // The two workers are the larger side: they take the lease, and the coordinator moves to them.
        Assert.True(await train.WaitAsync(TimeSpan.FromSeconds(60)) == 1, train.Output + job.LogTails());
        Assert.Contains("removed from the cluster", train.Output);
        // However late the larger side noticed the cut, the lone node saw it alive in the store and left it the lease.
        Assert.Contains("leaving the lease to it", job.Log("train"));
        network.Heal(0);
        await AllFinish(job, nodes);
        output.WriteLine($"pause after cutting off the coordinator's node (2|1): {ClusterJob.PauseAfter(job.Records("step"), cutAt).TotalSeconds:0.00} s");
    }

    [SkippableFact]
    public async Task Three_nodes_split_2_1_with_the_coordinator_on_the_2_side()
    {
        using var network = TestNetwork.Create(3);
        using var job = new ClusterJob(steps: 2400); // still running when the cut side joins again
        var (train, nodes) = await Start(job, network, workers: 2);
        using var _ = train;
        using var b = nodes[0];
        using var c = nodes[1];

        var generations = job.Records("generation").Count;
        var cutAt = job.LastStep();
        network.Cut(2);
        await job.WaitFor(j => j.Records("generation").Skip(generations).Any(r => r.GetProperty("world").GetInt32() == 2),
            "the job going on without the cut worker", train);
        await Task.Delay(TimeSpan.FromSeconds(8)); // the cut worker downs itself, tries to join again and cannot yet
        network.Heal(2);
        Assert.True(await train.WaitAsync(TimeSpan.FromMinutes(4)) == 0, train.Output + job.LogTails());
        await AllFinish(job, nodes);
        Assert.Contains("joining again", c.Output);
        Assert.Contains("leaving the lease to it", job.Log("worker2"));
        output.WriteLine($"pause after cutting off a worker (2|1): {ClusterJob.PauseAfter(job.Records("step").Where(r => r.GetProperty("step").GetInt64() <= cutAt + 20).ToList(), cutAt).TotalSeconds:0.00} s");
    }

    /// <summary>The job on hosts 0 (train, the coordinator) to <paramref name="workers"/>, stepping on all of them.</summary>
    private async Task<(ElasticTrainProcess Train, ElasticTrainProcess[] Nodes)> Start(ClusterJob job, TestNetwork network, int workers)
    {
        var train = job.StartTrain(reference.Data, Port, ranks: 1, network.Host(0));
        await job.WaitFor(j => j.LastStep() >= 10, "10 steps on one rank", train);
        var nodes = Enumerable.Range(1, workers)
            .Select(i => job.StartNode(Port, ranks: 1, $"worker{i}", port: Port, network.Host(i), joinHost: network.Address(0))).ToArray();
        await job.WaitFor(j => j.Records("step").Count(r => r.GetProperty("world").GetInt32() == workers + 1) >= 10,
            $"10 steps on {workers + 1} nodes", [train, .. nodes]);
        return (train, nodes);
    }

    /// <summary>
    /// After a 1|1 split either side may take the lease. Whichever lost says so: the train exits 1,
    /// the node joins again once healed. The job finishes once either way.
    /// </summary>
    private async Task OneSideWent(ClusterJob job, ElasticTrainProcess train, ElasticTrainProcess node)
    {
        var trainCode = await train.WaitAsync(TimeSpan.FromMinutes(4));
        if (trainCode == 1)
            Assert.Contains("removed from the cluster", train.Output);
        else
            Assert.True(trainCode == 0, train.Output);
        await AllFinish(job, [node]);
        if (trainCode == 0) Assert.Contains("joining again", node.Output);
    }

    private async Task AllFinish(ClusterJob job, ElasticTrainProcess[] nodes)
    {
        foreach (var node in nodes) Assert.True(await node.WaitAsync(TimeSpan.FromMinutes(4)) == 0, node.Output + job.LogTails());
        Assert.Single(job.Records("finish"));
        reference.AssertSameCurve(job);
        reference.AssertEachSampleOncePerEpoch(job);
    }
}
