using ElasticTrain.Coordination;
using ElasticTrain.Jobs;
using ElasticTrain.Pipeline;
using static ElasticTrain.Tests.Support.TestRanks;

namespace ElasticTrain.Tests.Coordination;

public sealed class MeshPlannerTests
{
    private const long MiB = 1024 * 1024;

    // Six pipeline layers of equal cost: 10 MiB of state each, 1 MiB of activations per sample.
    private static readonly ModelProfile Profile = new([1, 1, 1, 1, 1, 1], [.. Enumerable.Repeat(10 * MiB, 6)], [.. Enumerable.Repeat(1 * MiB, 6)]);

    private static RankId[] Ranks(int count) => [.. Enumerable.Range(0, count).Select(i => R($"n{i / 2}/r{i % 2}"))];

    private static Dictionary<RankId, long> Memory(IEnumerable<RankId> ranks, long bytes) => ranks.ToDictionary(r => r, _ => bytes);

    private static Mesh Plan(RankId[] ranks, long memory, MeshRequest request, int globalBatch = 16)
    {
        Assert.True(MeshPlanner.TryPlan(ranks, Memory(ranks, memory), Profile, globalBatch, request, out var mesh, out var refusal), refusal);
        return mesh;
    }

    [Fact]
    public void A_model_that_fits_one_rank_runs_plain_data_parallel_when_left_to_auto()
    {
        var mesh = Plan(Ranks(4), 1024 * MiB, MeshRequest.Auto);
        Assert.Equal((4, 1, 1), (mesh.Replicas, mesh.Stages, mesh.MicroBatches));
        Assert.Empty(mesh.Idle);
        // 60 MiB of state and 4 samples of 6 MiB of activations.
        Assert.Equal(60 * MiB + 4 * 6 * MiB, mesh.PeakStageBytes);
    }

    [Fact]
    public void Memory_that_holds_no_whole_model_brings_in_the_fewest_stages_that_fit()
    {
        // A whole model needs 84 MiB on a 4-way replica; two stages of 3 layers need 30 MiB of
        // state and, at 8 samples per replica in 8 micro-batches of 1, 2 in flight of 3 MiB.
        var mesh = Plan(Ranks(4), 64 * MiB, MeshRequest.Auto);
        Assert.Equal((2, 2), (mesh.Replicas, mesh.Stages));
        Assert.Equal(new StagePartition(6, [0, 3]), mesh.Partition);
        Assert.Equal(8, mesh.MicroBatches);
        Assert.Equal(30 * MiB + 2 * 3 * MiB, mesh.PeakStageBytes);
        // Replica 0 takes the first two ranks in id order (one node), replica 1 the next two.
        Assert.Equal([R("n0/r0"), R("n0/r1")], mesh.Grid[0]);
        Assert.Equal([R("n1/r0"), R("n1/r1")], mesh.Grid[1]);
        Assert.Equal((1, 0), mesh.PositionOf(R("n1/r0")));
    }

    [Fact]
    public void A_fixed_stage_count_runs_whole_pipelines_and_leaves_the_rest_idle()
    {
        var ranks = Ranks(5);
        var mesh = Plan(ranks, 1024 * MiB, new MeshRequest(2, 4, ScheduleKind.OneFOneB));
        Assert.Equal((2, 2, 4), (mesh.Replicas, mesh.Stages, mesh.MicroBatches));
        Assert.Equal([ranks.Order().Last()], mesh.Idle);
        Assert.Null(mesh.PositionOf(ranks.Order().Last()));
    }

    [Fact]
    public void A_replica_with_fewer_samples_than_micro_batches_runs_one_sample_each()
    {
        var mesh = Plan(Ranks(4), 1024 * MiB, new MeshRequest(2, 16, ScheduleKind.GPipe), globalBatch: 6);
        Assert.Equal(3, mesh.MicroBatches);
    }

    [Fact]
    public void GPipe_holds_every_micro_batch_and_1F1B_at_most_one_per_stage_ahead()
    {
        var gpipe = Plan(Ranks(2), 1024 * MiB, new MeshRequest(2, 8, ScheduleKind.GPipe));
        var oneF = Plan(Ranks(2), 1024 * MiB, new MeshRequest(2, 8, ScheduleKind.OneFOneB));
        // One replica of 16 samples in 8 micro-batches of 2; stage 0 holds 3 layers of 1 MiB per sample,
        // 30 MiB of state, and (one replica: peer copies) 3/4 of its own and its neighbour's state.
        const long state = 30 * MiB + 3 * (30 * MiB + 30 * MiB) / 4;
        Assert.Equal(state + 8 * 2 * 3 * MiB, gpipe.PeakStageBytes);
        Assert.Equal(state + 2 * 2 * 3 * MiB, oneF.PeakStageBytes);
        Assert.Equal(gpipe.StepEstimate, oneF.StepEstimate);
    }

    [Fact]
    public void Too_few_ranks_for_a_fixed_stage_count_is_refused_with_the_reason()
    {
        var ranks = Ranks(2);
        Assert.False(MeshPlanner.TryPlan(ranks, Memory(ranks, 1024 * MiB), Profile, 16, new MeshRequest(3, null, ScheduleKind.OneFOneB), out _, out var refusal));
        Assert.Equal("3 stages need at least 3 ranks; 2 are here", refusal);
        Assert.False(MeshPlanner.TryPlan(ranks, Memory(ranks, 1024 * MiB), Profile, 16, new MeshRequest(7, null, ScheduleKind.OneFOneB), out _, out refusal));
        Assert.Contains("6 pipeline layers", refusal);
    }

    [Fact]
    public void A_model_that_fits_no_mesh_is_refused_saying_what_it_needs()
    {
        var ranks = Ranks(2);
        Assert.False(MeshPlanner.TryPlan(ranks, Memory(ranks, 8 * MiB), Profile, 16, MeshRequest.Auto, out _, out var refusal));
        Assert.Contains("fits no mesh of these 2 ranks", refusal);
        Assert.Contains("a rank may hold 8 MiB", refusal);
    }

    [Fact]
    public void Unequal_layer_costs_are_balanced_across_stages()
    {
        var heavyEnd = new ModelProfile([1, 1, 1, 1, 4], [.. Enumerable.Repeat(MiB, 5)], [.. Enumerable.Repeat(0L, 5)]);
        var ranks = Ranks(2);
        Assert.True(MeshPlanner.TryPlan(ranks, Memory(ranks, 1024 * MiB), heavyEnd, 8, new MeshRequest(2, 8, ScheduleKind.OneFOneB), out var mesh, out _));
        Assert.Equal(new StagePartition(5, [0, 4]), mesh.Partition);
    }
}
