using ElasticTrain.Jobs;

namespace ElasticTrain.Ranks;

/// <summary>
/// What a rank trains: the whole model (<see cref="Replica"/>, plain data parallelism) or one
/// stage of a pipeline (<see cref="Pipeline.PipelineStage"/>). Both apply a step only once it is
/// committed, and both move their state by parameter name, so a generation can hand any layers
/// from any part to any other, whatever the meshes before and after.
/// </summary>
public interface IModelPart : IDisposable
{
    /// <summary>The model's pipeline layers this part holds.</summary>
    LayerRange Layers { get; }

    /// <summary>The last step whose update this part has applied (0: fresh from the seed).</summary>
    long AppliedStep { get; }

    /// <summary>The names of the parameters this part holds, as the whole model names them.</summary>
    IReadOnlyList<string> ParameterNames { get; }

    /// <summary>Applies the committed step's update, clipped against the whole model's squared gradient norm <paramref name="gradientSquares"/>.</summary>
    void Apply(long step, double gradientSquares);

    /// <summary>Forgets an exchanged but uncommitted update (its generation was aborted).</summary>
    void DiscardPending();

    /// <summary>The parameters and optimizer state of <paramref name="names"/> (all when null) as named-state sections.</summary>
    IReadOnlyDictionary<string, byte[]> ExportState(IEnumerable<string>? names = null);

    /// <summary>Every parameter's state as it is now, to be encoded later, on any thread (peer copies).</summary>
    StateSnapshot Snapshot();

    /// <summary>Loads every parameter this part holds, by name, from sections that may hold more; the part is then at <paramref name="step"/>.</summary>
    void ImportState(IReadOnlyDictionary<string, byte[]> sections, long step);

    /// <summary>The buffer its gradients are exchanged in (where compression keeps its residuals).</summary>
    GradientBuffer Gradients { get; }

    /// <summary>The name of each parameter of <see cref="Gradients"/>, in buffer order.</summary>
    IReadOnlyList<string> GradientNames { get; }
}
