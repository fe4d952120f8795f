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

    /// <summary>
    /// The committed error-feedback residuals, per bucket (none for compressors that keep none):
    /// what this rank has not yet sent of its gradients, which another rank may take over.
    /// </summary>
    IReadOnlyList<(GradientBucket Bucket, float[] Residual)> Residuals() => [];

    /// <summary>Adds <paramref name="residual"/> (bucket-sized) to the committed residual of <paramref name="bucket"/> of <paramref name="buffer"/>.</summary>
    void Absorb(Memory<float> buffer, GradientBucket bucket, float[] residual) { }

    /// <summary>Forgets every residual: they were handed to another rank.</summary>
    void ClearResiduals() { }

    /// <summary>What turns the rank's gradient sums of the coming step into its own mean gradient (for a compressor that keeps its second moment).</summary>
    void ScaleOwnGradient(float scale) { }

    /// <summary>The second moment step <paramref name="step"/> refreshed for Adam, laid out as the gradient buffer; null when it did not (see <see cref="OwnSecondMoments"/>).</summary>
    float[]? TakeSecondMoment(long step) => null;
}
