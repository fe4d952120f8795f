using ElasticTrain.Coordination.ParameterServer;
using ElasticTrain.ParameterServer;
using ElasticTrain.Ranks;
using ElasticTrain.Ranks.ParameterServer;

namespace ElasticTrain.Tests.Coordination.ParameterServer;

public class ShardStartTests
{
    private static ShardId S(int index) => new("job", index);

    private static ShardId B(int index) => new("job", index, backup: true);

    private static readonly CheckpointRef Checkpoint = new(10, "/c/step-10.ckpt", "sha");

    private static Dictionary<ShardId, long> Held(params (ShardId Replica, long Step)[] held) => held.ToDictionary(h => h.Replica, h => h.Step);

    [Fact]
    public void Replicas_that_all_hold_the_committed_step_keep_it_and_nothing_moves()
    {
        var plan = ShardStart.Decide(Held((S(0), 14), (B(0), 14), (S(1), 14), (B(1), 14)), committedStep: 14, Checkpoint);
        Assert.Equal((14L, 15L, false), (plan.StateStep, plan.ResumeStep, plan.FallsBack));
        Assert.Empty(plan.Copies);
    }

    [Fact]
    public void A_replica_that_lost_its_state_copies_its_siblings_and_no_step_is_lost()
    {
        // Shard 1's node died: shard 1 started afresh elsewhere; its backup holds the committed step.
        var plan = ShardStart.Decide(Held((S(0), 14), (B(0), 14), (S(1), -1), (B(1), 14)), committedStep: 14, Checkpoint);
        Assert.Equal(14, plan.StateStep);
        Assert.False(plan.FallsBack);
        Assert.Equal(new Dictionary<ShardId, ShardId> { [S(1)] = B(1) }, plan.Copies);
    }

    [Fact]
    public void A_replica_a_step_ahead_of_the_others_comes_back_to_the_step_every_shard_holds()
    {
        // The coordinator failed over between sending the applies: shard 0 applied 15, the rest did not.
        var plan = ShardStart.Decide(Held((S(0), 15), (B(0), 14), (S(1), 14), (B(1), 14)), committedStep: 15, Checkpoint);
        Assert.Equal(14, plan.StateStep); // step 15 runs again
        Assert.Equal(new Dictionary<ShardId, ShardId> { [S(0)] = B(0) }, plan.Copies);
    }

    [Fact]
    public void A_shard_whose_replicas_both_died_sends_every_replica_back_to_the_checkpoint()
    {
        var plan = ShardStart.Decide(Held((S(0), 14), (B(0), 14), (S(1), -1), (B(1), -1)), committedStep: 14, Checkpoint);
        Assert.True(plan.FallsBack);
        Assert.Equal((10L, Checkpoint), (plan.StateStep, plan.Checkpoint));
        Assert.Equal([S(0), B(0), S(1), B(1)], plan.Loading);
        Assert.Empty(plan.Copies);
    }

    [Fact]
    public void A_new_job_starts_every_replica_from_the_seed_and_shards_without_backups_keep_a_common_step()
    {
        var fresh = ShardStart.Decide(Held((S(0), -1), (S(1), -1)), committedStep: 0, checkpoint: null);
        Assert.Equal((0L, true, null), (fresh.StateStep, fresh.FallsBack, fresh.Checkpoint));
        Assert.Equal([S(0), S(1)], fresh.Loading);
        Assert.False(ShardStart.Decide(Held((S(0), 0), (S(1), 0)), committedStep: 0, checkpoint: null).FallsBack);
        // Without backups, shards at different steps cannot copy: back to the checkpoint.
        Assert.True(ShardStart.Decide(Held((S(0), 14), (S(1), 13)), committedStep: 14, Checkpoint).FallsBack);
    }

    [Fact]
    public void A_step_before_the_checkpoint_is_never_a_start_its_samples_are_forgotten()
    {
        var plan = ShardStart.Decide(Held((S(0), 8), (B(0), 8)), committedStep: 14, Checkpoint);
        Assert.True(plan.FallsBack);
        Assert.Equal(10, plan.StateStep);
    }

    [Fact]
    public void A_commanded_replica_that_moved_or_missed_its_command_is_lost_to_the_preparation()
    {
        ShardStatus Status(long generation, string dataPlane) => new(B(1), generation, -1, dataPlane, 0, 0);
        // It took the generation's command where it was planned: carrying it out.
        Assert.Null(ShardStart.Lost(B(1), 7, "10.0.0.1:4000", Status(7, "10.0.0.1:4000")));
        // A rebalance moved it after it answered the generation's first status: its state goes to its old node.
        Assert.Equal("parameter shard job-backup-1 moved to the data plane 10.0.0.2:4000 (it was on 10.0.0.1:4000 when generation 7 was planned)",
            ShardStart.Lost(B(1), 7, "10.0.0.1:4000", Status(7, "10.0.0.2:4000")));
        // Its region dropped the command during a hand-off, and it came back to the same node.
        Assert.Equal("parameter shard job-backup-1 never received generation 7's command: a move dropped it",
            ShardStart.Lost(B(1), 7, "10.0.0.1:4000", Status(6, "10.0.0.1:4000")));
    }
}
