using ElasticTrain.Wire;

namespace ElasticTrain.Jobs;

/// <summary>
/// Who computes which part of one step's global batch. Slices are contiguous ranges of the step's
/// positions [0, B) in the epoch permutation, listed in ring order; together they cover the batch
/// exactly once, whatever their sizes.
/// </summary>
/// <param name="Step">1-based global step number.</param>
public sealed record StepPlan(long Step, IReadOnlyList<RankSlice> Slices) : IWireMessage
{
    public int PositionOf(RankId rank)
    {
        for (int i = 0; i < Slices.Count; i++)
            if (Slices[i].Rank == rank) return i;
        return -1;
    }
}

/// <param name="Offset">First position within the step's global batch.</param>
/// <param name="Stage">
/// The rank's pipeline stage: every stage of a replica is given the replica's slice, and only
/// stage 0 (the embeddings) counts as consuming it.
/// </param>
public sealed record RankSlice(RankId Rank, int Offset, int Count, int Stage = 0) : IWireMessage;
