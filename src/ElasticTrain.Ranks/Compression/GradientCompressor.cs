using ElasticTrain.Collectives;
using ElasticTrain.Collectives.Compression;
using ElasticTrain.Training;

namespace ElasticTrain.Ranks.Compression;

/// <summary>The compressor a job's <see cref="CompressionSettings"/> name, on a rank's collective.</summary>
public static class GradientCompressor
{
    /// <returns>Null for none: the exchange all-reduces float32 as it always has.</returns>
    public static IGradientCompressor? Create(CompressionSettings settings, ICollective collective)
    {
        if (settings.IsNone) return null;
        if (collective is not ICompressedCollective compressed)
            throw new InvalidOperationException($"{CompressionSettings.Key} = {settings.Canonical} needs a collective that can carry it; {collective.GetType().Name} cannot");
        return settings.Kind switch
        {
            CompressionKind.Fp16 => new HalfCompressor(compressed, HalfFormat.Fp16),
            CompressionKind.Bf16 => new HalfCompressor(compressed, HalfFormat.Bf16),
            CompressionKind.TopK => new TopKCompressor(compressed, settings.Ratio),
            CompressionKind.PowerSgd => new PowerSgdCompressor(compressed, settings.Rank),
            _ => throw new ArgumentOutOfRangeException(nameof(settings), settings.Kind, null),
        };
    }
}
