using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ElasticTrain.Models;

/// <summary>
/// Byte-level decoder-only transformer: token + learned position embeddings, pre-LN blocks, a final
/// LayerNorm and an untied, bias-free output head. Dropout as GPT-2's (the embeddings' sum, each
/// block's attention and MLP outputs) only with <see cref="Masks"/> set, and then per sample, so
/// forward stays a pure function of the parameters, the input and the masks' (seed, step, sample
/// ids): what lets replicas on different ranks stay identical whatever their slices.
/// </summary>
/// <remarks>
/// Parameter names read tok.weight, pos.weight, blocks.0.ln1.weight, ..., ln.weight, head.weight, in
/// the same order as the PyTorch reference; the default spec has exactly 3,323,392 parameters.
/// </remarks>
public sealed class Gpt : nn.Module<Tensor, Tensor>, IReportsBackwardProgress, ILayeredModel, ISampleDropout
{
    private readonly Embedding tok;
    private readonly Embedding pos;
    private readonly ModuleList<GptBlock> blocks;
    private readonly LayerNorm ln;
    private readonly Linear head;

    // Not a module, parameter or tensor, so RegisterComponents ignores it.
    private readonly IReadOnlyList<ModelLayer> layers;

    /// <summary>Builds the model described by <paramref name="spec"/> (its name is not checked).</summary>
    public Gpt(ModelSpec spec) : base(nameof(Gpt))
    {
        ArgumentNullException.ThrowIfNull(spec);
        tok = nn.Embedding(spec.Vocab, spec.Width);
        pos = nn.Embedding(spec.Block, spec.Width);
        blocks = nn.ModuleList(Enumerable.Range(0, spec.Layers)
            .Select(i => new GptBlock(spec.Width, spec.Heads, spec.Block, i)).ToArray());
        ln = nn.LayerNorm(spec.Width);
        head = nn.Linear(spec.Width, spec.Vocab, hasBias: false);
        RegisterComponents();
        layers = [ModelLayer.Embedding(tok, pos, spec.Block), .. blocks.Select((b, i) => BlockLayer(b, i, spec.Width)), OutputLayer(ln, head, spec.Width)];
    }

    /// <summary>idx: int64 [B, T] with T &lt;= Block; returns float32 logits [B, T, Vocab].</summary>
    public override Tensor forward(Tensor idx) =>
        LayerStack.Forward(layers, idx, training ? Masks : null, StageCompleted is { } completed && is_grad_enabled() ? completed : null);

    /// <summary>The embeddings, each block, then the final LayerNorm with the head: <see cref="ModelSpec.Layers"/> + 2 layers.</summary>
    public IReadOnlyList<ModelLayer> Layers => layers;

    public Action<int>? StageCompleted { get; set; }

    public SampleMasks? Masks { get; set; }

    /// <summary>The output layers first, then each block's MLP and attention halves from the last block to the first, then the embeddings.</summary>
    public IReadOnlyList<IReadOnlyList<Parameter>> BackwardStages() => LayerStack.BackwardStages(layers);

    /// <summary>
    /// Block i as a layer. Backward reaches the block's MLP input once its MLP and everything after it
    /// are done (group 0), and the block's input once the attention half is done too (group 1).
    /// </summary>
    private static ModelLayer BlockLayer(GptBlock block, int i, long width) => new(
        $"blocks.{i}", width, [($"blocks.{i}", block)],
        (x, masks, groupInput) => block.forward(x, masks, groupInput is null ? null : h => groupInput(0, h)),
        () => [block.MlpParameters(), block.AttentionParameters()]);

    private static ModelLayer OutputLayer(LayerNorm ln, Linear head, long width) => new(
        "output", width, [("ln", ln), ("head", head)],
        (x, _, _) => Autocast.Fp32(Autocast.Linear(head, Autocast.Norm(ln, x))),
        () => [[.. ln.parameters(), .. head.parameters()]]);
}
