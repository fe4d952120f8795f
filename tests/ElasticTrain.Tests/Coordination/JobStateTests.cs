using ElasticTrain.Coordination;
using ElasticTrain.Jobs;
using ElasticTrain.Ranks;

namespace ElasticTrain.Tests.Coordination;

public class JobStateTests
{
    private static readonly JobConfig Job = new("j", "mlp", 1, 1, 8, 8, 4, 20, 1e-3, 0, 1, "", 5);

    private static JobState Fold(params IJobEvent[] events) => events.Aggregate(JobState.Empty, (s, e) => s.Updated(e));

    [Fact]
    public void A_new_job_has_nothing_committed_and_no_checkpoint()
    {
        var state = Fold(new JobStarted(Job, "h", "d"), new GenerationStarted(1, ["r0"]));
        Assert.Equal(0, state.CommittedStep);
        Assert.Null(state.LastCheckpoint);
        Assert.Equal(1, state.Generation);
        Assert.Equal("h", state.IdentityHash);
    }

    [Fact]
    public void The_journal_keeps_the_losses_a_resume_from_the_last_checkpoint_replays()
    {
        var state = Fold(new JobStarted(Job, "h", "d"), new GenerationStarted(1, ["r0"]),
            new StepCommitted(1, 5.0, 1, 1), new StepCommitted(2, 4.9, 1, 1),
            new CheckpointTaken(new CheckpointRef(2, "p2", "s2")),
            new StepCommitted(3, 4.8, 1, 1), new StepCommitted(4, 4.7, 1, 1));
        Assert.Equal(2, state.LastCheckpoint!.Step);
        Assert.Equal(4, state.CommittedStep);
        Assert.Equal(4.8, state.JournaledLoss(3));
        Assert.Equal(4.7, state.JournaledLoss(4));
        Assert.Null(state.JournaledLoss(2)); // before the checkpoint: never replayed, not kept
    }

    [Fact]
    public void A_step_committed_again_does_not_move_the_high_water_mark_back()
    {
        var state = Fold(new StepCommitted(5, 1.0, 1, 1), new StepCommitted(3, 2.0, 2, 1));
        Assert.Equal(5, state.CommittedStep);
        Assert.Single(state.LossesSinceCheckpoint);
    }

    [Fact]
    public void Generations_only_move_forward_with_their_events()
    {
        var state = Fold(new GenerationStarted(1, ["a"]), new GenerationStarted(2, ["a", "b"]));
        Assert.Equal(2, state.Generation);
    }

    [Fact]
    public void Completion_is_recorded_with_its_step()
    {
        Assert.Equal(20, Fold(new JobCompleted(20)).CompletedAt);
    }
}
