using ElasticTrain.Ranks;

namespace ElasticTrain.Coordination.ParameterServer;

/// <summary>
/// Pure: the step a parameter-server generation starts from, given what each shard holds. Shards
/// that all hold one step keep it (the committed step when nothing was lost: no state moves at
/// all); a step below the committed one is run again from there. When they disagree, or one holds
/// nothing (its node died, or the job is resuming), every shard loads the last checkpoint, or the
/// seed without one: the shards must start from one step, since a step's update needs them all.
/// </summary>
public static class ShardStart
{
    /// <param name="StateStep">The step every shard holds once prepared; the generation resumes at the next.</param>
    /// <param name="Loading">The shards to load, by index: none, or all.</param>
    /// <param name="Checkpoint">What they load: a checkpoint, or (null) the seed.</param>
    public sealed record Plan(long StateStep, IReadOnlyList<int> Loading, CheckpointRef? Checkpoint)
    {
        public long ResumeStep => StateStep + 1;
    }

    /// <param name="applied">Each shard's applied step, by index (-1: holds nothing).</param>
    /// <param name="committedStep">The journal's last committed step.</param>
    /// <param name="checkpoint">The journal's last checkpoint; steps before it may not run again (their samples are forgotten).</param>
    public static Plan Decide(IReadOnlyList<long> applied, long committedStep, CheckpointRef? checkpoint)
    {
        ArgumentNullException.ThrowIfNull(applied);
        if (applied.Count == 0) throw new ArgumentException("a parameter-server job has at least one shard", nameof(applied));
        var held = applied[0];
        if (applied.All(a => a == held) && held >= (checkpoint?.Step ?? 0) && held <= committedStep)
            return new Plan(held, [], null);
        return new Plan(checkpoint?.Step ?? 0, [.. Enumerable.Range(0, applied.Count)], checkpoint);
    }
}
