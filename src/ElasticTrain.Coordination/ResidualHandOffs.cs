using ElasticTrain.Jobs;
using ElasticTrain.Ranks.Pipeline;

namespace ElasticTrain.Coordination;

/// <summary>
/// Pure: which ranks leaving a data-parallel mesh by plan (drained, or left idle by a scale-down)
/// hand their compression residuals to which member of the next, so that what they had not yet
/// sent is sent by someone. Only ranks alive and holding the generation's state step hand off (a
/// rank that died, or fell behind, has nothing current to give), spread over the members in turn.
/// In pipeline re-plans residuals move with their layers instead (by parameter name, with the
/// state), and a replica that leaves a pipeline mesh takes its residuals with it.
/// </summary>
public static class ResidualHandOffs
{
    /// <param name="before">The mesh of the generation that ends; null before the first.</param>
    /// <param name="live">What the ranks not suspected of being dead hold.</param>
    /// <param name="keepsResiduals">Whether the job's compression keeps residuals (top-k, PowerSGD).</param>
    /// <returns>Per leaving rank, the member that takes its residuals.</returns>
    public static IReadOnlyDictionary<RankId, RankId> Decide(MeshLayout? before, MeshLayout after,
        IReadOnlyCollection<(RankId Rank, MeshStatePlanner.Holding Held)> live, long stateStep, bool keepsResiduals)
    {
        if (!keepsResiduals || before is null || before.Stages != 1 || after.Stages != 1) return new Dictionary<RankId, RankId>();
        var members = after.Members.Order().ToArray();
        var current = live.Where(h => h.Held.Step == stateStep).Select(h => h.Rank).ToHashSet();
        var leaving = before.Members.Where(r => !members.Contains(r) && current.Contains(r)).Order().ToArray();
        return leaving.Select((rank, i) => (rank, members[i % members.Length])).ToDictionary(p => p.rank, p => p.Item2);
    }
}
