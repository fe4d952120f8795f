using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ElasticTrain.Models;

/// <summary>
/// One layer of a model as a pipeline sees it: the smallest piece a stage boundary cannot cut. A
/// model is the ordered list of its layers (<see cref="ILayeredModel"/>); a pipeline stage is a
/// contiguous run of them (<see cref="ModelStage"/>).
/// </summary>
/// <remarks>
/// A layer holds the whole model's own modules under the whole model's names (tok, blocks.2, head),
/// so a stage built from layers has the same parameter names as the whole model, and its state can
/// move between ranks, and into and out of checkpoints, by name whatever the partition. The forward
/// function captures only the layer's modules, never the model, so a stage can keep a layer alive
/// after disposing the model it came from.
/// </remarks>
public sealed class ModelLayer
{
    private readonly Func<Tensor, SampleMasks?, Func<int, Tensor, Tensor>?, Tensor> _forward;
    private readonly Func<IReadOnlyList<IReadOnlyList<Parameter>>> _backwardGroups;

    /// <param name="name">What the layer is called in messages and tables (embedding, blocks.0, output).</param>
    /// <param name="inputWidth">C of the float [B, T, C] activations the layer takes; null for int64 token ids.</param>
    /// <param name="modules">The layer's modules under their names in the whole model, in its registration order.</param>
    /// <param name="forward">
    /// The layer's computation: the input, the pass's dropout masks (null: none), and a function that,
    /// when not null, the layer passes the tensor that enters each of its backward groups but the
    /// last through, with that group's index.
    /// </param>
    /// <param name="backwardGroups">
    /// Every parameter of the layer once, grouped as in <see cref="IReportsBackwardProgress.BackwardStages"/>:
    /// in the order backward finishes them. Read anew on each call because moving a module to a
    /// device replaces its Parameter objects.
    /// </param>
    internal ModelLayer(string name, long? inputWidth, IReadOnlyList<(string Name, nn.Module Module)> modules,
        Func<Tensor, SampleMasks?, Func<int, Tensor, Tensor>?, Tensor> forward, Func<IReadOnlyList<IReadOnlyList<Parameter>>> backwardGroups)
    {
        Name = name;
        InputWidth = inputWidth;
        Modules = modules;
        _forward = forward;
        _backwardGroups = backwardGroups;
        ParameterNames = [.. modules.SelectMany(m => m.Module.named_parameters().Select(p => $"{m.Name}.{p.name}"))];
        ParameterCount = modules.Sum(m => m.Module.parameters().Sum(p => p.numel()));
        BackwardGroupCount = backwardGroups().Count;
    }

    /// <summary>embedding, blocks.I, output (gpt); embedding, hidden, output (mlp).</summary>
    public string Name { get; }

    /// <summary>
    /// C of the float activations [B, T, C] the layer takes; null for the embeddings, which take int64
    /// token ids [B, T]. What a stage starting at this layer receives from the stage before it.
    /// </summary>
    public long? InputWidth { get; }

    /// <summary>The layer's parameters' full names, as in the whole model's state_dict, in its order.</summary>
    public IReadOnlyList<string> ParameterNames { get; }

    /// <summary>How many values the layer's parameters hold: what a stage of it keeps, with its gradients and optimizer state.</summary>
    public long ParameterCount { get; }

    /// <summary>The modules, named as in the whole model; what a stage adopts.</summary>
    internal IReadOnlyList<(string Name, nn.Module Module)> Modules { get; }

    /// <summary>How many groups <see cref="BackwardGroups"/> returns: 2 for a transformer block (MLP and attention halves), else 1.</summary>
    internal int BackwardGroupCount { get; }

    /// <summary>The layer's parameters grouped in the order backward finishes them.</summary>
    internal IReadOnlyList<IReadOnlyList<Parameter>> BackwardGroups() => _backwardGroups();

    /// <summary>
    /// Runs the layer, with <paramref name="masks"/>' dropout at its sites (none when null). <paramref name="groupInput"/> (may be null) receives the tensor entering each
    /// backward group but the layer's earliest, with the group's index in <see cref="BackwardGroups"/>,
    /// and returns the tensor to go on with.
    /// </summary>
    internal Tensor Forward(Tensor x, SampleMasks? masks, Func<int, Tensor, Tensor>? groupInput) => _forward(x, masks, groupInput);

    /// <summary>
    /// Token plus learned position embeddings, the first layer of both models: int64 ids [B, T] in,
    /// float [B, T, W] out, with dropout on the sum (<see cref="DropoutSite.Embedding"/>).
    /// </summary>
    internal static ModelLayer Embedding(Embedding tok, Embedding pos, long block) => new(
        "embedding", null, [("tok", tok), ("pos", pos)],
        (idx, masks, _) =>
        {
            SequenceInput.Check(idx, block);
            // Positions live on the input's device so the layer runs wherever its parameters were moved.
            var positions = HeldScalars.Positions(idx.shape[1], idx.device);
            return DropoutSite.Embedding.Apply(tok.forward(idx).Plus(pos.forward(positions)), masks);
        },
        () => [[.. tok.parameters(), .. pos.parameters()]]);
}
