using static TorchSharp.torch;

namespace ElasticTrain.Models;

/// <summary>
/// The input contracts: int64 token ids [B, T] with 1 &lt;= T &lt;= block for every model and every
/// first pipeline stage; float activations [B, T, C] for any later stage.
/// </summary>
/// <remarks>
/// Checked up front because the failure otherwise surfaces deep inside libtorch (an index error in the
/// position embedding, or a shape error in a view) with a message that does not name the cause.
/// </remarks>
internal static class SequenceInput
{
    public static void Check(Tensor idx, long block)
    {
        ArgumentNullException.ThrowIfNull(idx);
        if (idx.dim() != 2)
            throw new ArgumentException($"Model input must be token ids [B, T], got [{string.Join(", ", idx.shape)}].", nameof(idx));
        if (idx.dtype != ScalarType.Int64)
            throw new ArgumentException($"Model input must be int64 token ids, got {idx.dtype}.", nameof(idx));
        var t = idx.shape[1];
        if (t < 1 || t > block)
            throw new ArgumentException($"Sequence length {t} must be between 1 and the block size {block}.", nameof(idx));
    }

    /// <summary>
    /// A later stage's input: the previous stage's output, float [B, T, width] with 1 &lt;= T &lt;= block.
    /// </summary>
    public static void CheckActivations(Tensor x, long width, long block)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.dim() != 3)
            throw new ArgumentException($"Stage input must be activations [B, T, C], got [{string.Join(", ", x.shape)}].", nameof(x));
        if (!x.is_floating_point())
            throw new ArgumentException($"Stage input must be floating-point activations, got {x.dtype}.", nameof(x));
        if (x.shape[2] != width)
            throw new ArgumentException($"Stage input must be {width} wide, got [{string.Join(", ", x.shape)}].", nameof(x));
        var t = x.shape[1];
        if (t < 1 || t > block)
            throw new ArgumentException($"Sequence length {t} must be between 1 and the block size {block}.", nameof(x));
    }
}
