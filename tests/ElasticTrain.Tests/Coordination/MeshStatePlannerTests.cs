using ElasticTrain.Coordination;
using ElasticTrain.Jobs;
using ElasticTrain.Ranks;
using static ElasticTrain.Coordination.MeshStatePlanner;
using static ElasticTrain.Tests.Support.TestRanks;

namespace ElasticTrain.Tests.Coordination;

public sealed class MeshStatePlannerTests
{
    private static readonly CheckpointRef Checkpoint = new(50, "/c/50", "sha");
    private static readonly LayerRange Whole = new(0, 4);

    private static LayerRange L(int first, int end) => new(first, end);

    [Fact]
    public void Data_parallel_holders_keep_and_newcomers_copy_from_them_in_turn_as_the_generation_planner_does()
    {
        var needs = new[] { "a", "b", "c", "d", "e" }.ToDictionary(n => R(n), _ => Whole);
        var live = new Dictionary<RankId, Holding> { [R("a")] = new(Whole, 70), [R("b")] = new(Whole, 70) };
        var plan = Decide(needs, live, committedStep: 70, Checkpoint);

        var expected = GenerationPlanner.Decide([.. needs.Keys], new Dictionary<RankId, long> { [R("a")] = 70, [R("b")] = 70 }, 70, Checkpoint);
        Assert.Equal(expected.ResumeStep, plan.ResumeStep);
        foreach (var (rank, origin) in expected.Origins)
            Assert.Equal([new Source(Whole, origin)], plan.Sources[rank]);
    }

    [Fact]
    public void A_2x2_mesh_that_becomes_1x4_moves_only_the_layers_that_change_hands()
    {
        // Replicas (a, b) and (c, d), stages [0,2) and [2,4); the new single pipeline gives a layer to each.
        var live = new Dictionary<RankId, Holding>
        {
            [R("a")] = new(L(0, 2), 70), [R("b")] = new(L(2, 4), 70), [R("c")] = new(L(0, 2), 70), [R("d")] = new(L(2, 4), 70),
        };
        var needs = new Dictionary<RankId, LayerRange> { [R("a")] = L(0, 1), [R("b")] = L(1, 2), [R("c")] = L(2, 3), [R("d")] = L(3, 4) };
        var plan = Decide(needs, live, 70, Checkpoint);

        Assert.Equal(71, plan.ResumeStep);
        Assert.Equal([new Source(L(0, 1), new KeepState())], plan.Sources[R("a")]);
        Assert.Equal([new Source(L(1, 2), new CopyFromPeer(R("a")))], plan.Sources[R("b")]);
        Assert.Equal([new Source(L(2, 3), new CopyFromPeer(R("b")))], plan.Sources[R("c")]);
        Assert.Equal([new Source(L(3, 4), new KeepState())], plan.Sources[R("d")]);
        Assert.Equal([(R("b"), L(1, 2))], plan.Sends[R("a")]);
        Assert.Equal([(R("c"), L(2, 3))], plan.Sends[R("b")]);
    }

    [Fact]
    public void A_member_gathers_a_wider_stage_from_several_holders_in_as_few_pieces_as_it_can()
    {
        // 1x3 with stages [0,1) [1,3) [3,4) shrinks to 1 rank holding everything.
        var live = new Dictionary<RankId, Holding> { [R("a")] = new(L(0, 1), 9), [R("b")] = new(L(1, 3), 9), [R("c")] = new(L(3, 4), 9) };
        var plan = Decide(new Dictionary<RankId, LayerRange> { [R("a")] = Whole }, live, 9, null);

        Assert.Equal(
            [new Source(L(0, 1), new KeepState()), new Source(L(1, 3), new CopyFromPeer(R("b"))), new Source(L(3, 4), new CopyFromPeer(R("c")))],
            plan.Sources[R("a")]);
    }

    [Fact]
    public void A_layer_no_live_rank_holds_at_the_committed_step_sends_everyone_to_the_checkpoint()
    {
        // The only holder of [2,4) died; b holds it but at an older step.
        var live = new Dictionary<RankId, Holding> { [R("a")] = new(L(0, 2), 70), [R("b")] = new(L(2, 4), 60) };
        var needs = new Dictionary<RankId, LayerRange> { [R("a")] = L(0, 2), [R("b")] = L(2, 4) };
        var plan = Decide(needs, live, 70, Checkpoint);

        Assert.Equal(51, plan.ResumeStep);
        Assert.All(needs, n => Assert.Equal([new Source(n.Value, new LoadCheckpoint(Checkpoint))], plan.Sources[n.Key]));
        Assert.Empty(plan.Sends);
    }

    [Fact]
    public void A_fresh_job_starts_every_stage_from_the_seed()
    {
        var needs = new Dictionary<RankId, LayerRange> { [R("a")] = L(0, 2), [R("b")] = L(2, 4) };
        var plan = Decide(needs, new Dictionary<RankId, Holding>(), 0, null);
        Assert.Equal(1, plan.ResumeStep);
        Assert.All(needs, n => Assert.Equal([new Source(n.Value, new InitFromSeed())], plan.Sources[n.Key]));
    }

    [Fact]
    public void A_rank_leaving_the_mesh_serves_the_layers_only_it_holds()
    {
        // b is drained; it held [2,4), which a now takes on.
        var live = new Dictionary<RankId, Holding> { [R("a")] = new(L(0, 2), 70), [R("b")] = new(L(2, 4), 70) };
        var plan = Decide(new Dictionary<RankId, LayerRange> { [R("a")] = Whole }, live, 70, Checkpoint);
        Assert.Equal([new Source(L(0, 2), new KeepState()), new Source(L(2, 4), new CopyFromPeer(R("b")))], plan.Sources[R("a")]);
    }
}
