using ElasticTrain.Coordination;
using ElasticTrain.Ranks;

namespace ElasticTrain.Tests.Coordination;

public class GenerationPlannerTests
{
    private static readonly CheckpointRef Checkpoint = new(50, "/c/50", "sha");

    [Fact]
    public void A_fresh_job_starts_every_rank_from_the_seed()
    {
        var plan = GenerationPlanner.Decide(["a", "b"], new Dictionary<string, long>(), committedStep: 0, checkpoint: null);
        Assert.Equal(1, plan.ResumeStep);
        Assert.All(plan.Origins.Values, o => Assert.IsType<InitFromSeed>(o));
        Assert.Empty(plan.Sends);
    }

    [Fact]
    public void Ranks_holding_the_committed_state_keep_it_and_serve_joiners_round_robin()
    {
        var steps = new Dictionary<string, long> { ["a"] = 70, ["b"] = 70 };
        var plan = GenerationPlanner.Decide(["a", "b", "c", "d", "e"], steps, committedStep: 70, checkpoint: Checkpoint);
        Assert.Equal(71, plan.ResumeStep);
        Assert.IsType<KeepState>(plan.Origins["a"]);
        Assert.IsType<KeepState>(plan.Origins["b"]);
        Assert.Equal(new CopyFromPeer("a"), plan.Origins["c"]);
        Assert.Equal(new CopyFromPeer("b"), plan.Origins["d"]);
        Assert.Equal(new CopyFromPeer("a"), plan.Origins["e"]);
        Assert.Equal(["c", "e"], plan.Sends["a"]);
        Assert.Equal(["d"], plan.Sends["b"]);
    }

    [Fact]
    public void A_rank_leaving_the_generation_serves_its_state_when_no_member_holds_it()
    {
        // "b" idled under a scale target while "a" and "c" ran; "a" and "c" are drained; "b" takes over.
        var steps = new Dictionary<string, long> { ["a"] = 90, ["b"] = 60, ["c"] = 90 };
        var plan = GenerationPlanner.Decide(["b"], steps, committedStep: 90, checkpoint: Checkpoint, others: ["a", "c"]);
        Assert.Equal(91, plan.ResumeStep);
        Assert.Equal(new CopyFromPeer("a"), plan.Origins["b"]);
        Assert.Equal(["b"], plan.Sends["a"]);
        Assert.False(plan.Sends.ContainsKey("c"));
    }

    [Fact]
    public void Without_a_live_copy_of_the_committed_state_everyone_loads_the_checkpoint()
    {
        // After a restart of every process: ranks know nothing, or hold an older step.
        var steps = new Dictionary<string, long> { ["a"] = 65 };
        var plan = GenerationPlanner.Decide(["a", "b"], steps, committedStep: 70, checkpoint: Checkpoint);
        Assert.Equal(51, plan.ResumeStep);
        Assert.All(plan.Origins.Values, o => Assert.Equal(new LoadCheckpoint(Checkpoint), o));
    }

    [Fact]
    public void Without_live_state_or_checkpoint_the_job_starts_over_from_the_seed()
    {
        var plan = GenerationPlanner.Decide(["a"], new Dictionary<string, long>(), committedStep: 30, checkpoint: null);
        Assert.Equal(1, plan.ResumeStep);
        Assert.IsType<InitFromSeed>(plan.Origins["a"]);
    }
}
