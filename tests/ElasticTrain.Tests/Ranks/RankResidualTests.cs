using Akka.Actor;
using Akka.TestKit.Xunit2;
using ElasticTrain.Collectives.Transport;
using ElasticTrain.Coordination;
using ElasticTrain.Data;
using ElasticTrain.Jobs;
using ElasticTrain.Pipeline;
using ElasticTrain.Ranks;
using ElasticTrain.Ranks.Pipeline;
using ElasticTrain.Training;
using ElasticTrain.Tests.Support;
using static ElasticTrain.Tests.Support.TestRanks;

namespace ElasticTrain.Tests.Ranks;

/// <summary>
/// Rank actors with top-k compression, driven as the coordinator drives them: the error-feedback
/// residuals of a generation are all still there in the next, whoever holds them. A rank leaving a
/// data-parallel mesh by plan hands its residuals to a member; layers that change hands in a
/// pipeline re-plan take theirs with them. Each rank reports the sum of its residuals' values, and
/// the sums add up across the change.
/// </summary>
public sealed class RankResidualTests : TestKit
{
    public RankResidualTests() => IgnoreMessages<RegisterRank>();

    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    // A tiny GPT: 2 blocks, so 4 pipeline layers; 12 samples a step.
    private static readonly JobConfig Job = new("residual-test", "gpt", 2, 2, 16, 8, GlobalBatch: 12, Steps: 10, 1e-3, 0.01, 3, "", 5);
    private static readonly TrainingRecipe TopK = TrainingRecipe.Default with { Compression = CompressionSettings.Parse("topk:0.05") };
    private static readonly int Layers = Replica.SpecOf(Job).PipelineLayers;

    private TensorTransport Transport { get; } = new("127.0.0.1", System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
    private readonly string _folder = Directory.CreateTempSubdirectory("et-residuals-").FullName;

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (!disposing) return;
        Transport.Dispose();
        Directory.Delete(_folder, recursive: true);
    }

    private RankEndpoint StartRank(string name) => TestRankActors.Start(Sys, TestActor, Transport, Job, name, bucketBytes: 4096, TopK);

    private static LayerSource[] From(LayerRange layers, StateOrigin origin) => [new(layers, origin)];

    private void Steps(long generation, MeshLayout mesh, IReadOnlyList<RankEndpoint> members, params long[] steps)
    {
        foreach (var step in steps)
        {
            var plan = StepPlanner.Plan(step, mesh, Job.GlobalBatch);
            foreach (var member in members) member.Endpoint.Tell(new RunStep(generation, plan, null));
            foreach (var _ in members) ExpectMsg<StepExchanged>(Patience);
            foreach (var member in members) member.Endpoint.Tell(new ApplyStep(generation, step));
        }
    }

    private void Ready(long generation, long stateStep, int members)
    {
        for (var i = 0; i < members; i++)
        {
            var ready = ExpectMsg<RankReady>(Patience);
            Assert.Equal((generation, stateStep), (ready.Generation, ready.StateStep));
        }
    }

    /// <summary>
    /// Each rank's residual sum once its last update is applied: a checkpoint's reply comes from the
    /// compute thread after the update, so the status asked then sees the committed residuals.
    /// </summary>
    private double[] ResidualTotals(long step, params (RankEndpoint Rank, long Generation)[] ranks)
    {
        foreach (var ((rank, generation), i) in ranks.Select((r, i) => (r, i)))
        {
            rank.Endpoint.Tell(new WriteCheckpoint(generation, step, Path.Combine(_folder, $"g{generation}-{i}-{Guid.NewGuid():N}.ckpt"), ranks.Length));
            ExpectMsg<CheckpointWritten>(Patience);
        }
        return [.. ranks.Select(r =>
        {
            r.Rank.Endpoint.Tell(GetRankStatus.Instance);
            return ExpectMsg<RankStatus>(Patience).ResidualTotal;
        })];
    }

    private double[] ResidualTotals(long generation, long step, params RankEndpoint[] ranks) =>
        ResidualTotals(step, [.. ranks.Select(r => (r, generation))]);

    [Fact]
    public void A_rank_leaving_a_data_parallel_mesh_by_plan_hands_its_residuals_to_a_member()
    {
        var (a, b, c) = (StartRank("a/r0"), StartRank("b/r0"), StartRank("c/r0"));
        var three = MeshLayout.DataParallel(Layers, [a.Rank, b.Rank, c.Rank]);
        foreach (var rank in new[] { a, b, c })
            rank.Endpoint.Tell(new PrepareRank(1, [a, b, c], three, From(new(0, Layers), new InitFromSeed()), 0, []));
        Ready(1, 0, 3);
        Steps(1, three, [a, b, c], 1, 2);
        var before = ResidualTotals(1, 2, a, b, c);
        Assert.All(before, total => Assert.NotEqual(0, total));

        // c leaves (drained): a takes its residuals, b keeps its own, c keeps none.
        var two = MeshLayout.DataParallel(Layers, [a.Rank, b.Rank]);
        a.Endpoint.Tell(new PrepareRank(2, [a, b], two, From(new(0, Layers), new KeepState()), 2, [], ResidualsFrom: [c.Rank]));
        b.Endpoint.Tell(new PrepareRank(2, [a, b], two, From(new(0, Layers), new KeepState()), 2, []));
        c.Endpoint.Tell(new HandOffResiduals(2, 2, a, Then: null));
        Ready(2, 2, 2);
        var after = ResidualTotals(2, (a, 2), (b, 2), (c, 1)); // c, outside generation 2, still answers for generation 1
        Assert.Equal(before[0] + before[2], after[0], 3);
        Assert.Equal(before[1], after[1]);
        Assert.Equal(0, after[2]);

        Steps(2, two, [a, b], 3); // and the two go on
    }

    [Fact]
    public void Layers_that_change_hands_in_a_pipeline_re_plan_take_their_residuals_with_them()
    {
        var ranks = new[] { "a/r0", "b/r0", "c/r0", "d/r0" }.Select(StartRank).ToArray();
        var (a, b, c, d) = (ranks[0], ranks[1], ranks[2], ranks[3]);
        // Two replicas of two stages: [0,2) on a and c, [2,4) on b and d.
        MeshLayout Mesh(int cut) => new(Layers, [0, cut], [[a.Rank, b.Rank], [c.Rank, d.Rank]], 3, ScheduleKind.OneFOneB);
        var first = Mesh(2);
        foreach (var (rank, layers) in new[] { (a, new LayerRange(0, 2)), (b, new LayerRange(2, 4)), (c, new LayerRange(0, 2)), (d, new LayerRange(2, 4)) })
            rank.Endpoint.Tell(new PrepareRank(1, ranks, first, From(layers, new InitFromSeed()), 0, []));
        Ready(1, 0, 4);
        Steps(1, first, ranks, 1, 2);
        var before = ResidualTotals(1, 2, a, b, c, d);
        Assert.All(before, total => Assert.NotEqual(0, total));

        // The cut moves to 3: layer 2 goes from b to a and from d to c, with its residuals.
        var second = Mesh(3);
        LayerSource[] Front(RankEndpoint from) => [new(new(0, 2), new KeepState()), new(new(2, 3), new CopyFromPeer(from.Rank))];
        a.Endpoint.Tell(new PrepareRank(2, ranks, second, Front(b), 2, []));
        c.Endpoint.Tell(new PrepareRank(2, ranks, second, Front(d), 2, []));
        b.Endpoint.Tell(new PrepareRank(2, ranks, second, From(new(3, 4), new KeepState()), 2, [new StateSend(a.Rank, new LayerRange(2, 3))]));
        d.Endpoint.Tell(new PrepareRank(2, ranks, second, From(new(3, 4), new KeepState()), 2, [new StateSend(c.Rank, new LayerRange(2, 3))]));
        Ready(2, 2, 4);
        var after = ResidualTotals(2, 2, a, b, c, d);
        Assert.Equal(before[0] + before[1], after[0] + after[1], 3);
        Assert.Equal(before[2] + before[3], after[2] + after[3], 3);
        Assert.NotEqual(before[1], after[1]); // something did move

        Steps(2, second, ranks, 3);
    }
}
