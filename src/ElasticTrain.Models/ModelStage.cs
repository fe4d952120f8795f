using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ElasticTrain.Models;

/// <summary>
/// One pipeline stage: the layers [<see cref="FirstLayer"/>, <see cref="EndLayer"/>) of the model a
/// spec and seed describe, holding only those layers' parameters, with exactly the values the whole
/// model has for them and under the whole model's names.
/// </summary>
/// <remarks>
/// The first stage takes int64 token ids [B, T]; any other takes the previous stage's output, float
/// activations [B, T, <see cref="InputWidth"/>]. The last stage returns logits [B, T, Vocab]. Running
/// every stage of a partition in order computes what the whole model computes, operation for
/// operation (the same <see cref="LayerStack"/> runs both), so gradients summed over micro-batches
/// match the whole batch's up to the order of floating-point sums.
/// </remarks>
public sealed class ModelStage : nn.Module<Tensor, Tensor>, IReportsBackwardProgress, ISampleDropout
{
    // Not modules, parameters or tensors, so RegisterComponents ignores them; the modules the
    // layers hold are registered explicitly under their whole-model names.
    private readonly IReadOnlyList<ModelLayer> layers;
    private readonly long block;

    /// <summary>
    /// Builds layers [<paramref name="firstLayer"/>, <paramref name="endLayer"/>) of
    /// <c>ModelFactory.Create(spec, seed)</c>.
    /// </summary>
    /// <remarks>
    /// Builds the whole model and keeps what the stage needs: the only way to get the exact initial
    /// values, since layers draw their initial values from one generator in construction order. The
    /// cost is the whole model's initialization time and, briefly, its memory, once per stage built;
    /// a stage that must fit where the whole model does not would need per-layer generators instead.
    /// </remarks>
    /// <exception cref="ArgumentException">The range is empty or outside [0, <see cref="ModelSpec.PipelineLayers"/>).</exception>
    public ModelStage(ModelSpec spec, long seed, int firstLayer, int endLayer) : base(nameof(ModelStage))
    {
        ArgumentNullException.ThrowIfNull(spec);
        if (firstLayer < 0 || endLayer <= firstLayer || endLayer > spec.PipelineLayers)
            throw new ArgumentException(
                $"A stage holds layers [first, end) with 0 <= first < end <= {spec.PipelineLayers}, got [{firstLayer}, {endLayer}).");
        FirstLayer = firstLayer;
        EndLayer = endLayer;
        IsLast = endLayer == spec.PipelineLayers;
        block = spec.Block;

        using var whole = ModelFactory.Create(spec, seed);
        layers = [.. ((ILayeredModel)whole).Layers.Skip(firstLayer).Take(endLayer - firstLayer)];
        foreach (var (name, module) in layers.SelectMany(l => l.Modules))
        {
            Unregister(whole, name);
            Adopt(name, module);
        }
        // Disposing the whole model now frees every module but those adopted above.
    }

    /// <summary>The stage's first layer, counted in the whole model's layers.</summary>
    public int FirstLayer { get; }

    /// <summary>One past the stage's last layer.</summary>
    public int EndLayer { get; }

    /// <summary>Whether the stage ends with the output layer, so that its forward returns logits.</summary>
    public bool IsLast { get; }

    /// <summary>C of the activations [B, T, C] the stage takes; null for the first stage, which takes token ids.</summary>
    public long? InputWidth => layers[0].InputWidth;

    /// <summary>The stage's layers, in order.</summary>
    public IReadOnlyList<ModelLayer> Layers => layers;

    /// <summary>
    /// input: int64 token ids [B, T] for the first stage, float activations [B, T, <see cref="InputWidth"/>]
    /// for any other (a leaf that requires grad, when the caller wants the gradient to send back).
    /// Returns activations for the next stage, or logits [B, T, Vocab] from the last.
    /// </summary>
    public override Tensor forward(Tensor input)
    {
        if (InputWidth is { } width) SequenceInput.CheckActivations(input, width, block);
        return LayerStack.Forward(layers, input, training ? Masks : null, StageCompleted is { } completed && is_grad_enabled() ? completed : null);
    }

    public Action<int>? StageCompleted { get; set; }

    /// <summary>The masks of the rows the next forwards run; the sites are the whole model's, so a stage drops what the whole model drops.</summary>
    public SampleMasks? Masks { get; set; }

    /// <summary>
    /// The stage's layers from its last to its first, each as in the whole model: the output layer,
    /// a block's MLP then attention half, the embeddings. The group that completes when backward
    /// returns is the stage's first layer's earliest, the one that produces the gradient sent back.
    /// </summary>
    public IReadOnlyList<IReadOnlyList<Parameter>> BackwardStages() => LayerStack.BackwardStages(layers);

    /// <summary>
    /// Detaches the module at dotted <paramref name="path"/> from <paramref name="whole"/>, so that
    /// disposing the whole model leaves it alive: TorchSharp's register_module with a null module
    /// removes the registration, and Module.Dispose frees only registered submodules.
    /// </summary>
    private static void Unregister(nn.Module whole, string path)
    {
        var parts = path.Split('.');
        var parent = parts[..^1].Aggregate(whole, (m, part) => m.named_children().Single(c => c.name == part).module);
        parent.register_module(parts[^1], null!);
    }

    /// <summary>
    /// Registers <paramref name="module"/> at dotted <paramref name="path"/> under this stage, creating
    /// containers for the path's prefixes (blocks), so named_parameters reads blocks.2.ln1.weight as in
    /// the whole model rather than renumbering the stage's blocks from 0.
    /// </summary>
    private void Adopt(string path, nn.Module module)
    {
        var parts = path.Split('.');
        nn.Module parent = this;
        foreach (var part in parts[..^1])
        {
            var existing = parent.named_children().SingleOrDefault(c => c.name == part).module;
            if (existing is null)
            {
                existing = new ModuleDict<nn.Module>();
                parent.register_module(part, existing);
            }
            parent = existing;
        }
        parent.register_module(parts[^1], module);
    }
}
