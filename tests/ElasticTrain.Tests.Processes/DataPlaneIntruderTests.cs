using ElasticTrain.Tests.Collectives;

namespace ElasticTrain.Tests.Processes;

/// <summary>
/// A stranger who can reach a running job's data port throws every kind of garbage at it while two
/// processes exchange gradients over TCP: each connection is refused with one warning in the log,
/// and the job neither fails a step nor changes its curve.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class DataPlaneIntruderTests(ReferenceRun reference)
{
    [Fact]
    public async Task Garbage_at_a_live_data_port_is_refused_and_the_job_finishes_unchanged()
    {
        using var job = new ClusterJob();
        Directory.CreateDirectory(job.Folder);
        var dataPort = ClusterJob.FreePort();
        var config = Path.Combine(job.Folder, "train.conf");
        File.WriteAllText(config, $"elastictrain.data-plane-port = {dataPort}");
        var port = ClusterJob.FreePort();
        job.Extra = ["--config", config]; // the train only: the node picks its own data port
        using var train = job.StartTrain(reference.Data, port, ranks: 1);
        job.Extra = [];
        await job.WaitFor(j => j.LastStep() >= 10, "10 steps on one rank", train);
        using var node = job.StartNode(port, ranks: 1, "worker");
        await job.WaitFor(j => j.Records("step").Count(r => r.GetProperty("world").GetInt32() == 2) >= 5, "5 steps with the worker", train, node);

        var kinds = Enum.GetValues<DataPlaneGarbage.Kind>();
        const int Rounds = 2;
        await Task.Run(() =>
        {
            for (int round = 0; round < Rounds; round++)
                foreach (var kind in kinds)
                    DataPlaneGarbage.Send(dataPort, kind, "r0", TimeSpan.FromSeconds(10));
        });
        var after = job.LastStep();

        // Generous: the garbage is over in well under a second, the rest is training on a shared machine.
        Assert.True(await train.WaitAsync(TimeSpan.FromMinutes(5)) == 0, train.Output);
        Assert.True(await node.WaitAsync(TimeSpan.FromSeconds(30)) == 0, node.Output);
        Assert.True(after < job.Steps - 20, $"the job was nearly over ({after}) when the garbage was done");
        // No exchange failed: the world of two, formed once, carried every step to the end.
        Assert.Equal(2, Assert.Single(job.Records("generation")).GetProperty("world").GetInt32());
        Assert.Equal(2, job.Records("step")[^1].GetProperty("world").GetInt32());
        reference.AssertSameCurve(job);

        var refusals = File.ReadLines(Path.Combine(job.Folder, "train", "logs", "elastictrain.log"))
            .Where(l => l.Contains("refused a connection from 127.0.0.1:")).ToList();
        Assert.True(refusals.Count >= Rounds * kinds.Length, string.Join("\n", refusals));
        foreach (var kind in kinds)
            Assert.Contains(refusals, l => l.Contains(DataPlaneGarbage.Reason(kind)));
    }
}
