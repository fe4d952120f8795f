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
/// gradient path in milliseconds. Layers and heads of the spec are ignored. Dropout, when masks are
/// set, applies to the embeddings' sum and to the hidden activations after the GELU.
/// </remarks>
public sealed class Mlp : nn.Module<Tensor, Tensor>, ILayeredModel, ISampleDropout
{
    private readonly Embedding tok;
    private readonly Embedding pos;
    private readonly Linear fc;
    private readonly Linear @out;

    // Not a module, parameter or tensor, so RegisterComponents ignores it.
    private readonly IReadOnlyList<ModelLayer> layers;

    /// <summary>Builds the model described by <paramref name="spec"/> (its name is not checked).</summary>
    public Mlp(ModelSpec spec) : base(nameof(Mlp))
    {
        ArgumentNullException.ThrowIfNull(spec);
        tok = nn.Embedding(spec.Vocab, spec.Width);
        pos = nn.Embedding(spec.Block, spec.Width);
        fc = nn.Linear(spec.Width, 4 * spec.Width);
        @out = nn.Linear(4 * spec.Width, spec.Vocab);
        RegisterComponents();
        layers = [ModelLayer.Embedding(tok, pos, spec.Block), HiddenLayer(fc, spec.Width), OutputLayer(@out, 4 * spec.Width)];
    }

    /// <summary>idx: int64 [B, T] with T &lt;= Block; returns float32 logits [B, T, Vocab].</summary>
    public override Tensor forward(Tensor idx) => LayerStack.Forward(layers, idx, training ? Masks : null, report: null);

    public SampleMasks? Masks { get; set; }

    /// <summary>
    /// embedding, hidden (fc then GELU), output (out): one layer per parameterized module, so the
    /// model splits into as many as three stages, which is what tests of pipelines need from it.
    /// The GELU goes with fc, as in a block, so the boundary between hidden and output carries
    /// [B, T, 4W] activations, four times as wide as the one after the embeddings.
    /// </summary>
    public IReadOnlyList<ModelLayer> Layers => layers;

    private static ModelLayer HiddenLayer(Linear fc, long width) => new(
        "hidden", width, [("fc", fc)],
        // Back to fp32 at the layer's end: what a pipeline stage boundary carries is fp32.
        (x, masks, _) => Autocast.Fp32(DropoutSite.Hidden.Apply(nn.functional.gelu(Autocast.Linear(fc, x), GELU.Approximate.none), masks)),
        () => [[.. fc.parameters()]]);

    private static ModelLayer OutputLayer(Linear @out, long width) => new(
        "output", width, [("out", @out)],
        (x, _, _) => Autocast.Fp32(Autocast.Linear(@out, x)),
        () => [[.. @out.parameters()]]);
}
