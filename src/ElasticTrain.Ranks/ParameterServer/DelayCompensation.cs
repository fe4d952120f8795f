using System.Numerics.Tensors;

namespace ElasticTrain.Ranks.ParameterServer;

/// <summary>
/// DC-ASGD's delay compensation (Zheng et al., ICML 2017): a gradient computed on values w_stale
/// that the shard has since moved to w is corrected towards the gradient at w by the first-order
/// Taylor term, with g ⊙ g standing in for the Hessian's diagonal:
/// g + lambda * g ⊙ g ⊙ (w - w_stale). Meant for asynchronous shards, where a worker's gradient
/// may be several updates old; lambda = 0 leaves it unchanged.
/// </summary>
public static class DelayCompensation
{
    /// <summary>MXNet's default lambda (its DCASGD optimizer's <c>lamda</c>).</summary>
    public const double MxNetLambda = 0.04;

    /// <summary>Stack-sized chunks, so that a large piece is compensated with vector operations and no allocation.</summary>
    private const int Chunk = 1024;

    /// <summary>Replaces <paramref name="gradient"/> by gradient + lambda * gradient² * (current - stale), element by element.</summary>
    /// <param name="current">The values the shard holds now.</param>
    /// <param name="stale">The values the worker computed the gradient on (what it pulled).</param>
    /// <exception cref="ArgumentException">A negative or non-finite lambda, or spans of different lengths.</exception>
    public static void Compensate(Span<float> gradient, ReadOnlySpan<float> current, ReadOnlySpan<float> stale, double lambda)
    {
        if (!double.IsFinite(lambda) || lambda < 0)
            throw new ArgumentException($"The delay compensation's lambda must be a finite number of 0 or more, not {lambda}.", nameof(lambda));
        if (current.Length != gradient.Length || stale.Length != gradient.Length)
            throw new ArgumentException(
                $"The gradient has {gradient.Length} values, the current values {current.Length} and the stale ones {stale.Length}: they must be of one piece.", nameof(gradient));
        if (lambda == 0) return;
        Span<float> term = stackalloc float[Chunk];
        for (var at = 0; at < gradient.Length; at += Chunk)
        {
            var n = Math.Min(Chunk, gradient.Length - at);
            var g = gradient.Slice(at, n);
            var t = term[..n];
            TensorPrimitives.Subtract(current.Slice(at, n), stale.Slice(at, n), t);
            TensorPrimitives.Multiply(t, g, t);
            TensorPrimitives.Multiply(t, g, t);
            TensorPrimitives.MultiplyAdd(t, (float)lambda, g, g);
        }
    }
}
