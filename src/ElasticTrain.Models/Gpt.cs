using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ElasticTrain.Models;

/// <summary>
/// Byte-level decoder-only transformer: token + learned position embeddings, pre-LN blocks, a final
/// LayerNorm and an untied, bias-free output head. No dropout, so forward is a pure function of the
/// parameters and the input, which is what lets replicas on different ranks stay identical.
/// </summary>
/// <remarks>
/// Parameter names read tok.weight, pos.weight, blocks.0.ln1.weight, ..., ln.weight, head.weight, in
/// the same order as the PyTorch reference; the default spec has exactly 3,323,392 parameters.
/// </remarks>
public sealed class Gpt : nn.Module<Tensor, Tensor>, IReportsBackwardProgress
{
    private readonly Embedding tok;
    private readonly Embedding pos;
    private readonly ModuleList<GptBlock> blocks;
    private readonly LayerNorm ln;
    private readonly Linear head;

    private readonly long block;

    /// <summary>Builds the model described by <paramref name="spec"/> (its name is not checked).</summary>
    public Gpt(ModelSpec spec) : base(nameof(Gpt))
    {
        ArgumentNullException.ThrowIfNull(spec);
        block = spec.Block;
        tok = nn.Embedding(spec.Vocab, spec.Width);
        pos = nn.Embedding(spec.Block, spec.Width);
        blocks = nn.ModuleList(Enumerable.Range(0, spec.Layers)
            .Select(_ => new GptBlock(spec.Width, spec.Heads, spec.Block)).ToArray());
        ln = nn.LayerNorm(spec.Width);
        head = nn.Linear(spec.Width, spec.Vocab, hasBias: false);
        RegisterComponents();
    }

    /// <summary>idx: int64 [B, T] with T &lt;= Block; returns float32 logits [B, T, Vocab].</summary>
    public override Tensor forward(Tensor idx)
    {
        SequenceInput.Check(idx, block);
        using var scope = NewDisposeScope();
        // Positions live on the input's device so the model runs wherever its parameters were moved.
        var positions = arange(idx.shape[1], dtype: ScalarType.Int64, device: idx.device);
        var x = tok.forward(idx) + pos.forward(positions);
        var report = StageCompleted is { } completed && is_grad_enabled() ? completed : null;
        for (int i = 0; i < blocks.Count; i++)
        {
            // Backward reaches block i's MLP input once its MLP and everything after it are done,
            // and the block's input once the attention half is done too (stages in BackwardStages).
            int mlpDone = 2 * (blocks.Count - i) - 1, attentionDone = mlpDone + 1;
            if (report is null)
            {
                x = blocks[i].forward(x);
                continue;
            }
            x = GradientBoundary.Mark(x, () => report(attentionDone));
            x = blocks[i].forward(x, h => GradientBoundary.Mark(h, () => report(mlpDone)));
        }
        if (report is not null) x = GradientBoundary.Mark(x, () => report(0));
        return head.forward(ln.forward(x)).MoveToOuterDisposeScope();
    }

    public Action<int>? StageCompleted { get; set; }

    /// <summary>The output layers first, then each block's MLP and attention halves from the last block to the first, then the embeddings.</summary>
    public IReadOnlyList<IReadOnlyList<Parameter>> BackwardStages() =>
    [
        [.. ln.parameters(), .. head.parameters()],
        .. blocks.Reverse().SelectMany(b => new[] { b.MlpParameters(), b.AttentionParameters() }),
        [.. tok.parameters(), .. pos.parameters()],
    ];
}
