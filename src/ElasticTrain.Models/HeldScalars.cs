using TorchSharp;
using static TorchSharp.torch;

namespace ElasticTrain.Models;

/// <summary>
/// Tensor operations whose number arguments outlive the native call that reads them.
/// </summary>
/// <remarks>
/// TorchSharp turns a number given as a <see cref="Scalar"/> (an add's alpha, a divisor, a fill
/// value, and the alpha 1 inside <c>tensor + tensor</c>) into a native object with a finalizer, and
/// passes the call only its raw handle. Once the handle is read the object is unreachable, so a
/// garbage collection during the call may finalize it and free what the call is reading: under
/// load, a worker's forward failed in libtorch's add with "value cannot be converted to type float
/// without overflow", a freed scalar read as garbage. A scalar held in a static field, or disposed
/// by a <c>using</c> after the call, stays reachable until the call is done. The results are the
/// same bits: the same values reach the same kernels.
/// </remarks>
public static class HeldScalars
{
    /// <summary>The alpha of a plain sum, as <c>tensor + tensor</c> passes it; never finalized.</summary>
    private static readonly Scalar One = 1.ToScalar();

    /// <summary>Minus infinity, for masking; never finalized.</summary>
    public static readonly Scalar NegativeInfinity = double.NegativeInfinity.ToScalar();

    /// <summary><paramref name="x"/> + <paramref name="y"/>, as TorchSharp's operator computes it.</summary>
    public static Tensor Plus(this Tensor x, Tensor y) => x.add(y, One);

    /// <summary><paramref name="x"/> / <paramref name="divisor"/>.</summary>
    public static Tensor DividedBy(this Tensor x, double divisor)
    {
        using var held = divisor.ToScalar();
        return x.div(held);
    }

    /// <summary><paramref name="x"/> * <paramref name="factor"/>.</summary>
    public static Tensor Times(this Tensor x, double factor)
    {
        using var held = factor.ToScalar();
        return x.mul(held);
    }

    /// <summary>0, 1, ..., <paramref name="count"/> - 1 as int64 on <paramref name="device"/>.</summary>
    public static Tensor Positions(long count, Device device)
    {
        using var end = count.ToScalar();
        return arange(end, dtype: ScalarType.Int64, device: device);
    }
}
