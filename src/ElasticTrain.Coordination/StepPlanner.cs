using ElasticTrain.Data;
using ElasticTrain.Jobs;

namespace ElasticTrain.Coordination;

/// <summary>
/// Pure planning: which rank computes which slice of a step's global batch. The ring order is the
/// order of rank ids (<see cref="RankId"/>), so every member derives the same ring from the same plan. Slice
/// sizes follow each rank's measured speed when every member has one (a slow rank gets fewer
/// samples); the math does not change, because the global batch and its order are fixed.
/// </summary>
public static class StepPlanner
{
    /// <param name="samplesPerSecond">Measured speed per rank; without one for every member, slices are even.</param>
    public static StepPlan Plan(long step, IReadOnlyCollection<RankId> ranks, int globalBatch,
        IReadOnlyDictionary<RankId, double>? samplesPerSecond = null)
    {
        if (ranks.Count == 0) throw new ArgumentException("a step needs at least one rank");
        var ordered = ranks.Order().ToList();
        var weighted = samplesPerSecond is not null && ordered.All(r => samplesPerSecond.TryGetValue(r, out var v) && v > 0 && double.IsFinite(v));
        var slices = weighted
            ? SliceSplit.Weighted(globalBatch, ordered.Select(r => samplesPerSecond![r]).ToList())
            : SliceSplit.Even(globalBatch, ordered.Count);
        return new StepPlan(step, ordered.Select((rank, i) => new RankSlice(rank, slices[i].Offset, slices[i].Count)).ToArray());
    }
}
