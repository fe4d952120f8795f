namespace ElasticTrain.Models;

/// <summary>
/// A model that a pipeline can split: the ordered list of its layers, first (the embeddings) to
/// last (the output that produces logits). Running them in order is the model's forward pass.
/// </summary>
public interface ILayeredModel
{
    /// <summary>
    /// <see cref="ModelSpec.PipelineLayers"/> layers; their parameter names, concatenated, are the
    /// model's named_parameters in order.
    /// </summary>
    IReadOnlyList<ModelLayer> Layers { get; }
}
