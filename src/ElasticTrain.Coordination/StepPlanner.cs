using ElasticTrain.Data;
using ElasticTrain.Jobs;

namespace ElasticTrain.Coordination;

/// <summary>
/// Pure planning: which rank computes which slice of a step's global batch. The ring order is the
/// ordinal order of rank names, so every member derives the same ring from the same plan.
/// </summary>
public static class StepPlanner
{
    public static StepPlan Plan(long step, IReadOnlyCollection<string> ranks, int globalBatch)
    {
        if (ranks.Count == 0) throw new ArgumentException("a step needs at least one rank");
        var ordered = ranks.Order(StringComparer.Ordinal).ToList();
        var slices = SliceSplit.Even(globalBatch, ordered.Count);
        return new StepPlan(step, ordered.Select((rank, i) => new RankSlice(rank, slices[i].Offset, slices[i].Count)).ToArray());
    }
}
