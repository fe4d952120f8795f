using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ElasticTrain.Models;

/// <summary>
/// A small, fast byte-level model with the same contract as <see cref="Gpt"/> ([B, T] int64 in,
/// [B, T, Vocab] logits out): token + position embeddings, then Linear(W, 4W), GELU, Linear(4W, Vocab).
/// </summary>
/// <remarks>
/// Each position is predicted from its own token and position only, so it learns bigram statistics at
/// best. It exists so that tests and smoke runs of the training system exercise the full data, loss and
/// gradient path in milliseconds. Layers and heads of the spec are ignored.
/// </remarks>
public sealed class Mlp : nn.Module<Tensor, Tensor>
{
    private readonly Embedding tok;
    private readonly Embedding pos;
    private readonly Linear fc;
    private readonly Linear @out;

    private readonly long block;

    /// <summary>Builds the model described by <paramref name="spec"/> (its name is not checked).</summary>
    public Mlp(ModelSpec spec) : base(nameof(Mlp))
    {
        ArgumentNullException.ThrowIfNull(spec);
        block = spec.Block;
        tok = nn.Embedding(spec.Vocab, spec.Width);
        pos = nn.Embedding(spec.Block, spec.Width);
        fc = nn.Linear(spec.Width, 4 * spec.Width);
        @out = nn.Linear(4 * spec.Width, spec.Vocab);
        RegisterComponents();
    }

    /// <summary>idx: int64 [B, T] with T &lt;= Block; returns float32 logits [B, T, Vocab].</summary>
    public override Tensor forward(Tensor idx)
    {
        SequenceInput.Check(idx, block);
        using var scope = NewDisposeScope();
        var positions = arange(idx.shape[1], dtype: ScalarType.Int64, device: idx.device);
        var x = tok.forward(idx) + pos.forward(positions);
        var logits = @out.forward(nn.functional.gelu(fc.forward(x), GELU.Approximate.none));
        return logits.MoveToOuterDisposeScope();
    }
}
