using TorchSharp.Modules;

namespace ElasticTrain.Models;

/// <summary>
/// A model whose backward pass says how far it has got, so gradient exchange can start on the
/// parameters it has finished with while it works on the rest (as DDP's buckets do).
/// </summary>
public interface IReportsBackwardProgress
{
    /// <summary>
    /// Every trainable parameter once, grouped by the stage of the backward pass after which its
    /// gradient is final, in the order backward completes the stages. The last stage completes
    /// only when backward returns.
    /// </summary>
    IReadOnlyList<IReadOnlyList<Parameter>> BackwardStages();

    /// <summary>
    /// Called on the thread running backward with the index of each stage but the last, as it
    /// completes. Null (the default) leaves the forward pass unchanged.
    /// </summary>
    Action<int>? StageCompleted { get; set; }
}
