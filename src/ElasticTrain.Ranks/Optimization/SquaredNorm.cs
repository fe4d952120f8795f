using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace ElasticTrain.Ranks.Optimization;

/// <summary>The squared L2 norm of float32 values, summed in float64.</summary>
public static class SquaredNorm
{
    /// <summary>
    /// Sixteen values at a time into four independent float64 sums. A plain loop adds one product
    /// at a time to one sum, each add waiting for the last: 2.4 ms for the default GPT's 3.3 million
    /// gradient values, on every step's critical path between the exchange and the report.
    /// </summary>
    public static double Of(ReadOnlySpan<float> values)
    {
        var vectors = MemoryMarshal.Cast<float, Vector256<float>>(values);
        Vector256<double> a = Vector256<double>.Zero, b = a, c = a, d = a;
        int i = 0;
        for (; i + 1 < vectors.Length; i += 2)
        {
            var (lower, upper) = Vector256.Widen(vectors[i]);
            a += lower * lower;
            b += upper * upper;
            (lower, upper) = Vector256.Widen(vectors[i + 1]);
            c += lower * lower;
            d += upper * upper;
        }
        double sum = Vector256.Sum((a + b) + (c + d));
        for (int j = i * Vector256<float>.Count; j < values.Length; j++) sum += (double)values[j] * values[j];
        return sum;
    }
}
