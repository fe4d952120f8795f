using System.Globalization;
using ElasticTrain.Configuration;

namespace ElasticTrain.Training;

/// <summary>How a step's gradient travels between the replicas of a stage.</summary>
public enum CompressionKind { None, Fp16, Bf16, TopK, PowerSgd }

/// <summary>
/// <c>elastictrain.job.compression</c>: <c>none</c> (exact float32 sums), <c>fp16</c> or <c>bf16</c>
/// (16-bit values on the wire, sums in float32), <c>topk:RATIO</c> (each rank sends its
/// ceil(RATIO·n) largest entries per bucket) or <c>powersgd:RANK</c> (each matrix as a rank-RANK
/// product). Every mode but none is approximate, so it is part of the job's identity; the sparse
/// and low-rank modes keep what they did not send as an error-feedback residual on the rank.
/// </summary>
/// <param name="Ratio">topk: the share of each bucket a rank sends, in (0, 1].</param>
/// <param name="Rank">powersgd: the rank of the approximation, at least 1.</param>
public sealed record CompressionSettings(CompressionKind Kind, double Ratio = 0, int Rank = 0)
{
    public const string Key = "elastictrain.job.compression";

    public static readonly CompressionSettings None = new(CompressionKind.None);

    public bool IsNone => Kind == CompressionKind.None;

    /// <summary>Whether the compressor keeps error-feedback residuals, which a rank leaving by plan hands on.</summary>
    public bool KeepsResiduals => Kind is CompressionKind.TopK or CompressionKind.PowerSgd;

    /// <summary>Parses the setting's text.</summary>
    /// <exception cref="SettingsException">Anything else; the message names the key.</exception>
    public static CompressionSettings Parse(string text)
    {
        var value = text.Trim().ToLowerInvariant();
        var (name, argument) = value.IndexOf(':') is var colon and >= 0 ? (value[..colon], value[(colon + 1)..]) : (value, null);
        switch (name)
        {
            case "none" or "" when argument is null: return None;
            case "fp16" when argument is null: return new(CompressionKind.Fp16);
            case "bf16" when argument is null: return new(CompressionKind.Bf16);
            case "topk":
                if (double.TryParse(argument, NumberStyles.Float, CultureInfo.InvariantCulture, out var ratio) && ratio > 0 && ratio <= 1)
                    return new(CompressionKind.TopK, Ratio: ratio);
                throw new SettingsException($"{Key}: topk needs a ratio in (0, 1], as in topk:0.01, not '{text}'");
            case "powersgd":
                if (int.TryParse(argument, NumberStyles.None, CultureInfo.InvariantCulture, out var rank) && rank >= 1)
                    return new(CompressionKind.PowerSgd, Rank: rank);
                throw new SettingsException($"{Key}: powersgd needs a rank of at least 1, as in powersgd:4, not '{text}'");
            default:
                throw new SettingsException($"{Key} must be none, fp16, bf16, topk:RATIO or powersgd:RANK, not '{text}'");
        }
    }

    /// <summary>The setting as it is written (and as it enters the identity).</summary>
    public string Canonical => Kind switch
    {
        CompressionKind.None => "none",
        CompressionKind.Fp16 => "fp16",
        CompressionKind.Bf16 => "bf16",
        CompressionKind.TopK => $"topk:{Ratio.ToString("R", CultureInfo.InvariantCulture)}",
        _ => $"powersgd:{Rank}",
    };

    public override string ToString() => Canonical;
}
