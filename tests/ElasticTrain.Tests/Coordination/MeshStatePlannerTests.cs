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
    public void Data_parallel_holders_keep_and_newcomers_copy_from_them_in_turn()
    {
        var needs = new[] { "a", "b", "c", "d", "e" }.ToDictionary(n => R(n), _ => Whole);
        var live = new Dictionary<RankId, Holding> { [R("a")] = new(Whole, 70), [R("b")] = new(Whole, 70) };
        var plan = Decide(needs, live, committedStep: 70, Checkpoint);

        Assert.Equal(71, plan.ResumeStep);
        Assert.Equal([new Source(Whole, new KeepState())], plan.Sources[R("a")]);
        Assert.Equal([new Source(Whole, new KeepState())], plan.Sources[R("b")]);
        Assert.Equal([new Source(Whole, new CopyFromPeer(R("a")))], plan.Sources[R("c")]);
        Assert.Equal([new Source(Whole, new CopyFromPeer(R("b")))], plan.Sources[R("d")]);
        Assert.Equal([new Source(Whole, new CopyFromPeer(R("a")))], plan.Sources[R("e")]);
        Assert.Equal([(R("c"), Whole), (R("e"), Whole)], plan.Sends[R("a")]);
        Assert.Equal([(R("d"), Whole)], plan.Sends[R("b")]);
    }

    [Fact]
    public void A_rank_leaving_the_generation_serves_its_state_when_no_member_holds_it()
    {
        // "b" idled under a scale target while "a" and "c" ran; "a" and "c" are drained; "b" takes over.
        var live = new Dictionary<RankId, Holding> { [R("a")] = new(Whole, 90), [R("b")] = new(Whole, 60), [R("c")] = new(Whole, 90) };
        var plan = Decide(new Dictionary<RankId, LayerRange> { [R("b")] = Whole }, live, committedStep: 90, Checkpoint);
        Assert.Equal(91, plan.ResumeStep);
        Assert.Equal([new Source(Whole, new CopyFromPeer(R("a")))], plan.Sources[R("b")]);
        Assert.Equal([(R("b"), Whole)], plan.Sends[R("a")]);
        Assert.False(plan.Sends.ContainsKey(R("c")));
    }

    [Fact]
    public void Without_a_live_copy_of_the_committed_state_everyone_loads_the_checkpoint()
    {
        // After a restart of every process: ranks know nothing, or hold a step older than the checkpoint.
        var live = new Dictionary<RankId, Holding> { [R("a")] = new(Whole, 45) };
        var plan = Decide(new Dictionary<RankId, LayerRange> { [R("a")] = Whole, [R("b")] = Whole }, live, committedStep: 70, Checkpoint);
        Assert.Equal(51, plan.ResumeStep);
        Assert.All(plan.Sources.Values, s => Assert.Equal([new Source(Whole, new LoadCheckpoint(Checkpoint))], s));
    }

    [Fact]
    public void A_live_state_older_than_the_committed_step_but_newer_than_the_checkpoint_beats_the_checkpoint()
    {
        var live = new Dictionary<RankId, Holding> { [R("a")] = new(Whole, 65) };
        var plan = Decide(new Dictionary<RankId, LayerRange> { [R("a")] = Whole, [R("b")] = Whole }, live, committedStep: 70, Checkpoint);
        Assert.Equal(66, plan.ResumeStep);
        Assert.Equal([new Source(Whole, new KeepState())], plan.Sources[R("a")]);
        Assert.Equal([new Source(Whole, new CopyFromPeer(R("a")))], plan.Sources[R("b")]);
    }

    [Fact]
    public void A_lost_stage_comes_back_from_its_neighbours_copy_and_every_stage_restarts_at_the_copy_step()
    {
        // 1x3, stages [0,1) [1,3) [3,4) on a, b, c; each keeps its own stage and the previous one's as of step 68
        // (c keeps b's, a keeps c's). b dies at step 70; d takes its place.
        (RankId, Holding)[] live =
        [
            (R("a"), new(L(0, 1), 70)), (R("a"), new(L(0, 1), 68)), (R("a"), new(L(3, 4), 68)),
            (R("c"), new(L(3, 4), 70)), (R("c"), new(L(3, 4), 68)), (R("c"), new(L(1, 3), 68)),
        ];
        var needs = new Dictionary<RankId, LayerRange> { [R("a")] = L(0, 1), [R("c")] = L(3, 4), [R("d")] = L(1, 3) };
        var plan = Decide(needs, live, committedStep: 70, Checkpoint);

        Assert.Equal(69, plan.ResumeStep); // steps 69 and 70 run again
        Assert.Equal([new Source(L(0, 1), new KeepState())], plan.Sources[R("a")]);
        Assert.Equal([new Source(L(3, 4), new KeepState())], plan.Sources[R("c")]);
        Assert.Equal([new Source(L(1, 3), new CopyFromPeer(R("c")))], plan.Sources[R("d")]);
    }

    [Fact]
    public void Without_live_state_or_checkpoint_the_job_starts_over_from_the_seed()
    {
        var plan = Decide(new Dictionary<RankId, LayerRange> { [R("a")] = Whole }, new Dictionary<RankId, Holding>(), committedStep: 30, checkpoint: null);
        Assert.Equal(1, plan.ResumeStep);
        Assert.Equal([new Source(Whole, new InitFromSeed())], plan.Sources[R("a")]);
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
