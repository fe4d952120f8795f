using ElasticTrain.Coordination;
using ElasticTrain.Ranks;
using ElasticTrain.Jobs;
using static ElasticTrain.Tests.Support.TestRanks;

namespace ElasticTrain.Tests.Coordination;

public class GenerationPlannerTests
{
    private static readonly CheckpointRef Checkpoint = new(50, "/c/50", "sha");

    [Fact]
    public void A_fresh_job_starts_every_rank_from_the_seed()
    {
        var plan = GenerationPlanner.Decide([R("a"), R("b")], new Dictionary<RankId, long>(), committedStep: 0, checkpoint: null);
        Assert.Equal(1, plan.ResumeStep);
        Assert.All(plan.Origins.Values, o => Assert.IsType<InitFromSeed>(o));
        Assert.Empty(plan.Sends);
    }

    [Fact]
    public void Ranks_holding_the_committed_state_keep_it_and_serve_joiners_round_robin()
    {
        var steps = new Dictionary<RankId, long> { [R("a")] = 70, [R("b")] = 70 };
        var plan = GenerationPlanner.Decide([R("a"), R("b"), R("c"), R("d"), R("e")], steps, committedStep: 70, checkpoint: Checkpoint);
        Assert.Equal(71, plan.ResumeStep);
        Assert.IsType<KeepState>(plan.Origins[R("a")]);
        Assert.IsType<KeepState>(plan.Origins[R("b")]);
        Assert.Equal(new CopyFromPeer(R("a")), plan.Origins[R("c")]);
        Assert.Equal(new CopyFromPeer(R("b")), plan.Origins[R("d")]);
        Assert.Equal(new CopyFromPeer(R("a")), plan.Origins[R("e")]);
        Assert.Equal([R("c"), R("e")], plan.Sends[R("a")]);
        Assert.Equal([R("d")], plan.Sends[R("b")]);
    }

    [Fact]
    public void A_rank_leaving_the_generation_serves_its_state_when_no_member_holds_it()
    {
        // "b" idled under a scale target while "a" and "c" ran; "a" and "c" are drained; "b" takes over.
        var steps = new Dictionary<RankId, long> { [R("a")] = 90, [R("b")] = 60, [R("c")] = 90 };
        var plan = GenerationPlanner.Decide([R("b")], steps, committedStep: 90, checkpoint: Checkpoint, others: [R("a"), R("c")]);
        Assert.Equal(91, plan.ResumeStep);
        Assert.Equal(new CopyFromPeer(R("a")), plan.Origins[R("b")]);
        Assert.Equal([R("b")], plan.Sends[R("a")]);
        Assert.False(plan.Sends.ContainsKey(R("c")));
    }

    [Fact]
    public void Without_a_live_copy_of_the_committed_state_everyone_loads_the_checkpoint()
    {
        // After a restart of every process: ranks know nothing, or hold an older step.
        var steps = new Dictionary<RankId, long> { [R("a")] = 65 };
        var plan = GenerationPlanner.Decide([R("a"), R("b")], steps, committedStep: 70, checkpoint: Checkpoint);
        Assert.Equal(51, plan.ResumeStep);
        Assert.All(plan.Origins.Values, o => Assert.Equal(new LoadCheckpoint(Checkpoint), o));
    }

    [Fact]
    public void Without_live_state_or_checkpoint_the_job_starts_over_from_the_seed()
    {
        var plan = GenerationPlanner.Decide([R("a")], new Dictionary<RankId, long>(), committedStep: 30, checkpoint: null);
        Assert.Equal(1, plan.ResumeStep);
        Assert.IsType<InitFromSeed>(plan.Origins[R("a")]);
    }
}
