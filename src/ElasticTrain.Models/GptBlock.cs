using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ElasticTrain.Models;

/// <summary>
/// One pre-LayerNorm transformer block: causal multi-head self-attention then a 4x GELU MLP, each
/// added back to the residual stream, each through dropout when masks are given
/// (<see cref="DropoutSite.Attention"/> and <see cref="DropoutSite.Mlp"/> of the block's index).
/// </summary>
/// <remarks>
/// Field names and declaration order mirror the PyTorch reference (ln1, ln2, qkv, proj, fc, out) because
/// RegisterComponents walks fields in declaration order: parameter names and order then match the
/// reference's state_dict, which keeps checkpoints and optimizer state interchangeable with it.
/// </remarks>
public sealed class GptBlock : nn.Module<Tensor, Tensor>
{
    private readonly LayerNorm ln1;
    private readonly LayerNorm ln2;
    private readonly Linear qkv;
    private readonly Linear proj;
    private readonly Linear fc;
    private readonly Linear @out;

    // Plain ints are not tensors, so RegisterComponents ignores them.
    private readonly long heads;
    private readonly long block;
    private readonly int index;

    /// <summary>Builds block <paramref name="index"/> (its dropout sites' number) of the given width, head count and context length.</summary>
    public GptBlock(long width, long heads, long block, int index) : base(nameof(GptBlock))
    {
        if (heads <= 0 || width % heads != 0)
            throw new ArgumentException($"Width {width} is not divisible by heads {heads}.", nameof(heads));
        this.heads = heads;
        this.block = block;
        this.index = index;
        // Construction order is initialization order: it decides which draws of the global generator
        // each parameter gets, so it follows the reference exactly.
        ln1 = nn.LayerNorm(width);
        ln2 = nn.LayerNorm(width);
        qkv = nn.Linear(width, 3 * width);
        proj = nn.Linear(width, width);
        fc = nn.Linear(width, 4 * width);
        @out = nn.Linear(4 * width, width);
        RegisterComponents();
    }

    /// <summary>x: float [B, T, C] with T &lt;= block; returns the same shape.</summary>
    public override Tensor forward(Tensor x) => forward(x, masks: null, mlpInput: null);

    /// <summary>
    /// As <see cref="forward(Tensor)"/>, with <paramref name="masks"/>' dropout (none when null), passing the MLP's input (the attention's residual sum)
    /// through <paramref name="mlpInput"/> on the way: where <see cref="Gpt"/> marks the point at
    /// which backward has finished the MLP's parameters.
    /// </summary>
    public Tensor forward(Tensor x, SampleMasks? masks, Func<Tensor, Tensor>? mlpInput)
    {
        if (x.dim() != 3)
            throw new ArgumentException($"Block input must be [B, T, C], got [{string.Join(", ", x.shape)}].", nameof(x));
        var (b, t, c) = (x.shape[0], x.shape[1], x.shape[2]);
        if (t > block)
            throw new ArgumentException($"Sequence length {t} exceeds the block size {block}.", nameof(x));

        // Intermediates die with this scope; only the result is handed to the caller's scope (if any).
        // Autograd keeps its own references to what backward needs, so disposing handles here is safe.
        using var scope = NewDisposeScope();

        // Under Autocast's low precision: the products in it, the norms and the softmax in fp32.
        var split = Autocast.Linear(qkv, Autocast.Norm(ln1, x)).split(c, dim: 2);
        var q = Heads(split[0], b, t, c);
        var k = Heads(split[1], b, t, c);
        var v = Heads(split[2], b, t, c);

        // Divide (not multiply by the reciprocal) so the rounding matches the reference bit for bit.
        var att = q.matmul(k.transpose(-2, -1)).DividedBy(Math.Sqrt(k.size(-1)));

        // The reference keeps a registered tril buffer and slices it to T. Building the mask here, on
        // the input's device, is equivalent and never part of the state_dict (as a non-persistent
        // buffer would be). It also sidesteps TorchSharp re-registering buffers as persistent when a
        // module is moved with .to(device). True above the diagonal = a future position = masked out.
        var future = ones(t, t, dtype: ScalarType.Bool, device: x.device).triu(1);
        att = Autocast.Softmax(att.masked_fill(future, HeldScalars.NegativeInfinity), -1);

        var y = att.matmul(v).transpose(1, 2).contiguous().view(b, t, c);
        var h = x.Plus(DropoutSite.Attention(index).Apply(Autocast.Linear(proj, y), masks));
        if (mlpInput is not null) h = mlpInput(h);
        var result = h.Plus(DropoutSite.Mlp(index).Apply(
            Autocast.Linear(@out, nn.functional.gelu(Autocast.Linear(fc, Autocast.Norm(ln2, h)), GELU.Approximate.none)), masks));
        return result.MoveToOuterDisposeScope();
    }

    /// <summary>The MLP half's parameters: final in backward before the attention half's.</summary>
    public IReadOnlyList<Parameter> MlpParameters() => [.. ln2.parameters(), .. fc.parameters(), .. @out.parameters()];

    /// <summary>The attention half's parameters.</summary>
    public IReadOnlyList<Parameter> AttentionParameters() => [.. ln1.parameters(), .. qkv.parameters(), .. proj.parameters()];

    /// <summary>[B, T, C] -> [B, heads, T, C/heads].</summary>
    private Tensor Heads(Tensor t, long b, long time, long c) => t.view(b, time, heads, c / heads).transpose(1, 2);
}
