using ElasticTrain.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace ElasticTrain.Tests.Models;

/// <summary>Small helpers shared by the tests; all randomness comes from explicit generators so that
/// tests running in parallel cannot perturb each other through the global one.</summary>
internal static class TestTensors
{
    public static readonly ModelSpec TinyGpt = ModelSpec.ForGpt(layers: 1, heads: 2, width: 32, block: 16);
    public static readonly ModelSpec TinyMlp = ModelSpec.ForMlp(width: 16, block: 16);

    public static Tensor RandomTokens(long seed, long batch, long time)
    {
        using var g = new Generator((ulong)seed);
        return randint(0, ModelSpec.ByteVocab, [batch, time], dtype: ScalarType.Int64, generator: g);
    }

    public static long[] RandomBytes(int seed, int count)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => (long)rng.Next(ModelSpec.ByteVocab)).ToArray();
    }

    /// <summary>||a - b|| / ||b||, in double, for comparisons that must not depend on summation order.</summary>
    public static double RelativeError(Tensor a, Tensor b)
    {
        using var scope = NewDisposeScope();
        var diff = (a.to(ScalarType.Float64) - b.to(ScalarType.Float64)).norm().item<double>();
        var reference = b.to(ScalarType.Float64).norm().item<double>();
        return diff / Math.Max(reference, 1e-30);
    }

    /// <summary>Same shape, dtype and bytes: stricter than value equality (which equates -0 and +0).</summary>
    public static bool BitIdentical(Tensor a, Tensor b)
    {
        if (a.dtype != b.dtype || !a.shape.SequenceEqual(b.shape)) return false;
        using var ac = a.detach().cpu().contiguous();
        using var bc = b.detach().cpu().contiguous();
        return ac.bytes.SequenceEqual(bc.bytes);
    }

    public static double MaxAbsDifference(Tensor a, Tensor b)
    {
        using var scope = NewDisposeScope();
        return (a - b).abs().max().item<float>();
    }
}
