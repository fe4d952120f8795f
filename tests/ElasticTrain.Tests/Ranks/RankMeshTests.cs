using Akka.Actor;
using Akka.TestKit.Xunit2;
using ElasticTrain.Collectives.Transport;
using ElasticTrain.Coordination;
using ElasticTrain.Data;
using ElasticTrain.Jobs;
using ElasticTrain.Pipeline;
using ElasticTrain.Ranks;
using ElasticTrain.Ranks.Pipeline;
using ElasticTrain.Tests.Support;
using static ElasticTrain.Tests.Support.TestRanks;

namespace ElasticTrain.Tests.Ranks;

/// <summary>
/// Rank actors in a pipeline mesh, driven as the coordinator drives them: a 1x2 mesh computes the
/// loss a whole replica computes on the same global batch; a mesh re-planned onto other layers takes
/// its state by layer from its peers; a stage whose rank is lost comes back from its neighbour's
/// in-memory copy, with every stage at the copy step, and the step after it runs again the same.
/// </summary>
public sealed class RankMeshTests : TestKit
{
    public RankMeshTests() => IgnoreMessages<RegisterRank>();

    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    // A tiny GPT: 2 blocks, so 4 pipeline layers.
    private static readonly JobConfig Job = new("mesh-test", "gpt", 2, 2, 16, 8, GlobalBatch: 6, Steps: 10, 1e-3, 0.01, 3, "", 5);

    private static readonly int Layers = Replica.SpecOf(Job).PipelineLayers;

    private TensorTransport Transport { get; } = new("127.0.0.1", System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (disposing) Transport.Dispose();
    }

    private RankEndpoint StartRank(string name) => TestRankActors.Start(Sys, TestActor, Transport, Job, name);

    private static MeshLayout Pipeline(int peerCopyEvery, params RankEndpoint[] stages) =>
        new(Layers, [0, 2], [[.. stages.Select(s => s.Rank)]], MicroBatches: 3, ScheduleKind.OneFOneB, peerCopyEvery);

    private static LayerSource[] From(LayerRange layers, StateOrigin origin) => [new(layers, origin)];

    /// <summary>Runs one step on every member of <paramref name="mesh"/> and returns the step's loss (as the coordinator sums it).</summary>
    private double Step(long generation, long step, MeshLayout mesh, IEnumerable<RankEndpoint> members, bool apply = true, bool copy = false)
    {
        var plan = StepPlanner.Plan(step, mesh, Job.GlobalBatch);
        var ranks = members.ToList();
        foreach (var member in ranks) member.Endpoint.Tell(new RunStep(generation, plan, null));
        var reports = ranks.Select(_ => ExpectMsg<StepExchanged>(Patience)).ToList();
        if (apply) foreach (var member in ranks) member.Endpoint.Tell(new ApplyStep(generation, step, copy));
        return reports.Sum(r => r.LossSum) / Job.GlobalBatch;
    }

    private void Ready(long generation, long stateStep, int members)
    {
        for (var i = 0; i < members; i++)
        {
            var ready = ExpectMsg<RankReady>(Patience);
            Assert.Equal((generation, stateStep), (ready.Generation, ready.StateStep));
        }
    }

    /// <summary>A whole replica alone, and a 1x2 pipeline, both fresh from the seed in generation 1.</summary>
    private (RankEndpoint Whole, MeshLayout Alone, RankEndpoint A, RankEndpoint B, MeshLayout Mesh) WholeAndPipeline()
    {
        var whole = StartRank("w/r0");
        var (a, b) = (StartRank("p/r0"), StartRank("p/r1"));
        var alone = MeshLayout.DataParallel(Layers, [whole.Rank]);
        whole.Endpoint.Tell(new PrepareRank(1, [whole], alone, From(new(0, Layers), new InitFromSeed()), 0, []));
        Ready(1, 0, 1);
        var mesh = Pipeline(0, a, b);
        a.Endpoint.Tell(new PrepareRank(1, [a, b], mesh, From(new(0, 2), new InitFromSeed()), 0, []));
        b.Endpoint.Tell(new PrepareRank(1, [a, b], mesh, From(new(2, 4), new InitFromSeed()), 0, []));
        Ready(1, 0, 2);
        return (whole, alone, a, b, mesh);
    }

    [Fact]
    public void A_1x2_mesh_of_ranks_computes_the_loss_of_a_whole_replica()
    {
        var (whole, alone, a, b, mesh) = WholeAndPipeline();

        for (var step = 1; step <= 3; step++)
        {
            var expected = Step(1, step, alone, [whole]);
            var actual = Step(1, step, mesh, [a, b]);
            Assert.True(Math.Abs(actual - expected) <= 1e-5 * expected, $"step {step}: {actual:R} vs {expected:R}");
        }
    }

    [Fact]
    public void A_lost_stage_comes_back_from_its_neighbours_copy_and_the_steps_after_the_copy_run_again_the_same()
    {
        var (a, b, c) = (StartRank("p/r0"), StartRank("p/r1"), StartRank("q/r0"));
        var mesh = Pipeline(1, a, b);
        a.Endpoint.Tell(new PrepareRank(1, [a, b], mesh, From(new(0, 2), new InitFromSeed()), 0, []));
        b.Endpoint.Tell(new PrepareRank(1, [a, b], mesh, From(new(2, 4), new InitFromSeed()), 0, []));
        Ready(1, 0, 2);

        Step(1, 1, mesh, [a, b], copy: true);
        // Each stage's rank keeps its snapshot; each neighbour says it holds the other's copy.
        var held = new[] { ExpectMsg<CopyHeld>(Patience), ExpectMsg<CopyHeld>(Patience) };
        Assert.Equal([(a.Rank, new LayerRange(2, 4)), (b.Rank, new LayerRange(0, 2))], held.Select(h => (h.Holder, h.Layers)).OrderBy(h => h.Holder));
        var step2 = Step(1, 2, mesh, [a, b]);

        // b is lost at step 2; c takes its stage, from a's copy of it at step 1, and a goes back to its own snapshot there.
        b.Endpoint.Tell(PoisonPill.Instance);
        var again = Pipeline(1, a, c);
        a.Endpoint.Tell(new PrepareRank(2, [a, c], again, From(new(0, 2), new KeepState()), 1, [new StateSend(c.Rank, new LayerRange(2, 4))]));
        c.Endpoint.Tell(new PrepareRank(2, [a, c], again, From(new(2, 4), new CopyFromPeer(a.Rank)), 1, []));
        Ready(2, 1, 2);
        Assert.Equal(step2, Step(2, 2, again, [a, c]), 6);
    }

    [Fact]
    public void A_1x2_mesh_re_planned_as_one_whole_replica_gathers_both_stages_by_layer()
    {
        var (whole, alone, a, b, mesh) = WholeAndPipeline();
        for (var step = 1; step <= 2; step++)
        {
            Step(1, step, alone, [whole]);
            Step(1, step, mesh, [a, b]);
        }

        // 1x2 becomes 1x1 on a: it keeps [0,2) and takes [2,4) from b, which leaves the mesh and serves it.
        var single = MeshLayout.DataParallel(Layers, [a.Rank]);
        a.Endpoint.Tell(new PrepareRank(2, [a], single, [new(new(0, 2), new KeepState()), new(new(2, 4), new CopyFromPeer(b.Rank))], 2, []));
        b.Endpoint.Tell(new ServeState(2, 2, [new ServeTarget(a, new LayerRange(2, 4))]));
        Ready(2, 2, 1);
        var expected = Step(1, 3, alone, [whole]);
        Assert.Equal(expected, Step(2, 3, single, [a]), 5);
    }
}
