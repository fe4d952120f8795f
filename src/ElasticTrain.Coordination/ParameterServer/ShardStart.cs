using ElasticTrain.ParameterServer;
using ElasticTrain.Ranks;
using ElasticTrain.Ranks.ParameterServer;

namespace ElasticTrain.Coordination.ParameterServer;

/// <summary>
/// Pure: the step a parameter-server generation starts from, and how every shard and backup (each
/// a replica of its index) gets there, given the step each holds. The generation starts from the
/// latest step, between the last checkpoint and the committed step, at which every index has a
/// replica: the committed step when nothing was lost, since a backup takes every step with its
/// shard. Replicas at that step keep it; the others (started afresh after their node died or they
/// moved, or one step ahead) take a copy of their sibling's. Only when some index has no replica at
/// any such step (both died, or nothing runs yet) does every replica load the last checkpoint, or
/// the seed without one, and the steps after it run again.
/// </summary>
public static class ShardStart
{
    /// <param name="StateStep">The step every replica holds once prepared; the generation resumes at the next.</param>
    /// <param name="Copies">Replicas that copy their sibling's state, and from which sibling.</param>
    /// <param name="Loading">Replicas that load <paramref name="Checkpoint"/>: none, or all.</param>
    /// <param name="Checkpoint">What they load: a checkpoint, or (null) the seed.</param>
    public sealed record Plan(long StateStep, IReadOnlyDictionary<ShardId, ShardId> Copies, IReadOnlyList<ShardId> Loading, CheckpointRef? Checkpoint)
    {
        public long ResumeStep => StateStep + 1;

        /// <summary>Whether the generation falls back to the checkpoint (or the seed), losing the steps after it.</summary>
        public bool FallsBack => Loading.Count > 0;
    }

    /// <param name="applied">Each replica's applied step (-1: holds nothing).</param>
    /// <param name="committedStep">The journal's last committed step.</param>
    /// <param name="checkpoint">The journal's last checkpoint; steps before it may not run again (their samples are forgotten).</param>
    public static Plan Decide(IReadOnlyDictionary<ShardId, long> applied, long committedStep, CheckpointRef? checkpoint)
    {
        ArgumentNullException.ThrowIfNull(applied);
        if (applied.Count == 0) throw new ArgumentException("a parameter-server job has at least one shard", nameof(applied));
        var floor = checkpoint?.Step ?? 0;
        var indices = applied.Keys.Select(r => r.Index).Distinct().ToList();
        var candidates = applied.Values.Where(s => s >= floor && s <= committedStep).Distinct().OrderDescending();
        foreach (var step in candidates)
        {
            if (!indices.All(i => applied.Any(a => a.Key.Index == i && a.Value == step))) continue;
            var copies = applied.Where(a => a.Value != step)
                .ToDictionary(a => a.Key, a => applied.First(s => s.Key.Index == a.Key.Index && s.Value == step).Key);
            return new Plan(step, copies, [], null);
        }
        return new Plan(floor, new Dictionary<ShardId, ShardId>(), [.. applied.Keys.Order()], checkpoint);
    }

    /// <summary>
    /// Why <paramref name="replica"/>, sent one of generation <paramref name="generation"/>'s
    /// preparation commands (a load, a copy to send or one to take) and not yet done with it, can
    /// no longer carry it out, judged by a status it answered since; null while it can. Sharding
    /// moves a replica by stopping it and starting it afresh on another node, and drops the
    /// commands that reach its region during the hand-off: a replica now on another data plane than
    /// the one planned, or one that has not seen the generation (its command went out before the
    /// status was asked, so it would have arrived first), is not the one commanded, and the
    /// preparation would wait out its timeout for an answer that cannot come.
    /// </summary>
    public static string? Lost(ShardId replica, long generation, string plannedDataPlane, ShardStatus status)
    {
        ArgumentNullException.ThrowIfNull(status);
        if (status.DataPlane != plannedDataPlane)
            return $"parameter shard {replica} moved to the data plane {status.DataPlane} (it was on {plannedDataPlane} when generation {generation} was planned)";
        if (status.Generation < generation)
            return $"parameter shard {replica} never received generation {generation}'s command: a move dropped it";
        return null;
    }
}
