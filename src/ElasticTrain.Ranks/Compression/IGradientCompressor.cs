using ElasticTrain.Collectives;

namespace ElasticTrain.Ranks.Compression;

/// <summary>
/// Exchanges one bucket of a rank's gradient buffer in place, as <see cref="ICollective.AllReduceSum"/>
/// does, but with fewer bytes: afterwards the bucket holds an approximation of the sum over the
/// group, the same bits on every member. Runs on the exchange thread only.
/// </summary>
public interface IGradientCompressor
{
    void Exchange(Memory<float> buffer, GradientBucket bucket, ExchangeGroup group, CancellationToken cancellation);

    /// <summary>The last exchanged step is committed: the state its exchange left (residuals) becomes the rank's.</summary>
    void Commit();
}
