using System.Runtime.InteropServices;
using TorchSharp;

namespace ElasticTrain.Ranks.Compression;

/// <summary>
/// Error-feedback residuals by parameter name, so that they can move between ranks whose gradient
/// buffers are cut differently (other layers, other buckets): a pipeline stage's layers going to
/// another rank take what their rank had not yet sent with them, and a rank leaving the mesh by
/// plan (drained, or left idle by a scale-down) hands its residuals to one that stays. What moves
/// is added to what the receiver holds, so the residuals of a group still add up to what its sums
/// have missed; the receiver's later steps send it.
/// </summary>
public static class ResidualTransfer
{
    /// <summary>A state section holding one parameter's residual: float32 values, little-endian.</summary>
    public const string Prefix = "residual/";

    /// <summary>The name of each parameter of <paramref name="buffer"/>, in buffer order, as <paramref name="module"/> names it.</summary>
    public static IReadOnlyList<string> NamesOf(GradientBuffer buffer, torch.nn.Module module)
    {
        var names = module.named_parameters().ToDictionary(p => p.parameter.Handle, p => p.name);
        return [.. buffer.Parameters.Select(p => names[p.Handle])];
    }

    /// <summary>The part's committed residuals of <paramref name="only"/> (all when null), by name; empty when it keeps none.</summary>
    public static Dictionary<string, float[]> Export(IModelPart part, BucketExchange exchange, IReadOnlySet<string>? only = null)
    {
        var (buffer, names) = (part.Gradients, part.GradientNames);
        var byName = new Dictionary<string, float[]>(StringComparer.Ordinal);
        foreach (var (bucket, residual) in exchange.Residuals())
        {
            for (int i = bucket.FirstParameter; i < bucket.EndParameter; i++)
            {
                if (only is not null && !only.Contains(names[i])) continue;
                var (offset, count) = buffer.RangeOf(i);
                byName[names[i]] = residual.AsSpan(offset - bucket.Offset, count).ToArray();
            }
        }
        return byName;
    }

    /// <summary>
    /// Adds residuals, by name, to the part's, bucket by bucket of its buffer; names it does not
    /// hold are left out. Returns how many of its parameters got one.
    /// </summary>
    /// <exception cref="InvalidOperationException">A residual's length is not its parameter's.</exception>
    public static int Absorb(IModelPart part, BucketExchange exchange, IReadOnlyDictionary<string, float[]> residuals)
    {
        if (residuals.Count == 0) return 0;
        var (buffer, names) = (part.Gradients, part.GradientNames);
        int absorbed = 0;
        foreach (var bucket in buffer.Buckets)
        {
            float[]? sum = null;
            for (int i = bucket.FirstParameter; i < bucket.EndParameter; i++)
            {
                if (!residuals.TryGetValue(names[i], out var residual)) continue;
                var (offset, count) = buffer.RangeOf(i);
                if (residual.Length != count)
                    throw new InvalidOperationException($"the residual of {names[i]} has {residual.Length} values; the parameter has {count}");
                sum ??= new float[bucket.Count];
                residual.CopyTo(sum.AsSpan(offset - bucket.Offset, count));
                absorbed++;
            }
            if (sum is not null) exchange.AbsorbResidual(buffer.Values, bucket, sum);
        }
        return absorbed;
    }

    /// <summary>Residuals as state sections, beside (or instead of) a part's named state.</summary>
    public static Dictionary<string, byte[]> ToSections(IReadOnlyDictionary<string, float[]> residuals) =>
        residuals.ToDictionary(r => Prefix + r.Key, r => MemoryMarshal.AsBytes(r.Value.AsSpan()).ToArray(), StringComparer.Ordinal);

    /// <summary>Separates residual sections from the named state they travel with.</summary>
    public static (Dictionary<string, byte[]> State, Dictionary<string, float[]> Residuals) Split(IReadOnlyDictionary<string, byte[]> sections)
    {
        var state = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        var residuals = new Dictionary<string, float[]>(StringComparer.Ordinal);
        foreach (var (name, bytes) in sections)
        {
            if (name.StartsWith(Prefix, StringComparison.Ordinal)) residuals[name[Prefix.Length..]] = MemoryMarshal.Cast<byte, float>(bytes).ToArray();
            else state[name] = bytes;
        }
        return (state, residuals);
    }
}
