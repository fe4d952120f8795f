using TorchSharp;
using static TorchSharp.torch;

namespace ElasticTrain.Models;

/// <summary>
/// Next-byte cross-entropy in the form data-parallel training needs: per-sample means, summed.
/// </summary>
/// <remarks>
/// Each rank computes the loss over its slice of the global batch, and the summed gradients are later
/// divided by the global batch size. Summing per-sample means (rather than averaging over the local
/// slice) makes that division give exactly the mean over the global batch, however the samples happen
/// to be split across ranks, including uneven splits after ranks join or leave.
/// </remarks>
public static class LanguageModelLoss
{
    /// <summary>
    /// logits: float [B, T, V]; targets: int64 [B, T]. Returns a scalar: the sum over the B samples of
    /// each sample's mean token cross-entropy.
    /// </summary>
    public static Tensor SumOfSampleMeans(Tensor logits, Tensor targets)
    {
        ArgumentNullException.ThrowIfNull(logits);
        ArgumentNullException.ThrowIfNull(targets);
        if (logits.dim() != 3 || targets.dim() != 2 || logits.shape[0] != targets.shape[0] || logits.shape[1] != targets.shape[1])
            throw new ArgumentException(
                $"Expected logits [B, T, V] and targets [B, T], got [{string.Join(", ", logits.shape)}] and [{string.Join(", ", targets.shape)}].");
        if (targets.dtype != ScalarType.Int64)
            throw new ArgumentException($"Targets must be int64 token ids, got {targets.dtype}.", nameof(targets));

        var (b, t, v) = (logits.shape[0], logits.shape[1], logits.shape[2]);
        using var scope = NewDisposeScope();
        var perToken = nn.functional.cross_entropy(
            logits.reshape(b * t, v), targets.reshape(b * t), reduction: nn.Reduction.None);
        return perToken.view(b, t).mean([1L]).sum().MoveToOuterDisposeScope();
    }
}
