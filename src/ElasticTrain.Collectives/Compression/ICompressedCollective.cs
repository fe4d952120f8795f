namespace ElasticTrain.Collectives.Compression;

/// <summary>
/// What the compressed gradient exchanges need of a collective besides the float32 sum: a sum
/// that travels in 16 bits, and an all-gather of equal blocks (the sparse entries of top-k).
/// Both leave every member with identical values, as the float32 sum does.
/// </summary>
public interface ICompressedCollective : ICollective
{
    /// <summary>
    /// Sums <paramref name="values"/> over the group in place, every hop carrying
    /// <paramref name="format"/> values and every addition done in float32. The result is the sum
    /// rounded to the format, the same bits on every member.
    /// </summary>
    void AllReduceSum16(Memory<float> values, HalfFormat format, ExchangeGroup group, int bucket, CancellationToken cancellation);

    /// <summary>
    /// <paramref name="blocks"/> holds one equal block per member in ring order; each member has
    /// filled its own. Afterwards every member holds every block.
    /// </summary>
    void GatherBlocks(Memory<float> blocks, ExchangeGroup group, int bucket, CancellationToken cancellation);
}
