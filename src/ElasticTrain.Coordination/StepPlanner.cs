using ElasticTrain.Data;
using ElasticTrain.Jobs;
using ElasticTrain.Ranks.Pipeline;

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
        return Plan(step, MeshLayout.DataParallel(1, ranks), globalBatch, samplesPerSecond);
    }

    /// <summary>
    /// A step on a mesh: the global batch is split among the replicas (by the speed of each
    /// replica's slowest stage, when every rank has one), and every stage of a replica is given the
    /// replica's slice; the slices are listed replica by replica, stages in order.
    /// </summary>
    public static StepPlan Plan(long step, MeshLayout mesh, int globalBatch, IReadOnlyDictionary<RankId, double>? samplesPerSecond = null)
    {
        double Speed(RankId r) => samplesPerSecond is not null && samplesPerSecond.TryGetValue(r, out var v) && v > 0 && double.IsFinite(v) ? v : 0;
        var weighted = mesh.Members.All(r => Speed(r) > 0);
        var slices = weighted
            ? SliceSplit.Weighted(globalBatch, [.. mesh.Grid.Select(row => row.Min(Speed))])
            : SliceSplit.Even(globalBatch, mesh.Replicas);
        return new StepPlan(step, [.. mesh.Grid.SelectMany((row, r) => row.Select((rank, s) => new RankSlice(rank, slices[r].Offset, slices[r].Count, s)))]);
    }
}
