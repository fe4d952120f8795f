using static TorchSharp.torch;

namespace ElasticTrain.Models;

/// <summary>
/// The input contract shared by every model: int64 token ids [B, T] with 1 &lt;= T &lt;= block.
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
}
