using ElasticTrain.Collectives;
using ElasticTrain.Collectives.Compression;
using ElasticTrain.Training;

namespace ElasticTrain.Ranks.Compression;

/// <summary>The compressor a job's <see cref="CompressionSettings"/> name, on a rank's collective.</summary>
public static class GradientCompressor
{
    /// <param name="moments">A top-k job's Adam: where its second moment comes from; null otherwise.</param>
    /// <param name="beta2">Adam's second-moment decay, for <paramref name="moments"/>.</param>
    /// <returns>Null for none: the exchange all-reduces float32 as it always has.</returns>
    public static IGradientCompressor? Create(CompressionSettings settings, ICollective collective, SecondMomentRefresh? moments = null, double beta2 = 0.999)
    {
        if (settings.IsNone) return null;
        if (collective is not ICompressedCollective compressed)
            throw new InvalidOperationException($"{CompressionSettings.Key} = {settings.Canonical} needs a collective that can carry it; {collective.GetType().Name} cannot");
        return settings.Kind switch
        {
            CompressionKind.Fp16 => new HalfCompressor(compressed, HalfFormat.Fp16),
            CompressionKind.Bf16 => new HalfCompressor(compressed, HalfFormat.Bf16),
            CompressionKind.TopK => new TopKCompressor(compressed, settings.Ratio, moments is null ? null : new OwnSecondMoments(compressed, moments, beta2)),
            CompressionKind.PowerSgd => new PowerSgdCompressor(compressed, settings.Rank),
            _ => throw new ArgumentOutOfRangeException(nameof(settings), settings.Kind, null),
        };
    }
}
