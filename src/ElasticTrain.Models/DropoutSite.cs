using static TorchSharp.torch;

namespace ElasticTrain.Models;

/// <summary>
/// Where in a model a dropout applies, numbered over the whole model (not over a pipeline stage),
/// so that a stage draws for its layers the very masks the whole model draws for them.
/// </summary>
/// <remarks>
/// GPT-2's places: the embeddings' sum (0), then in block i the attention's output projection
/// (1 + 2i) and the MLP's output (2 + 2i). The mlp model: the embeddings' sum and its hidden GELU's output.
/// </remarks>
public readonly record struct DropoutSite(int Index)
{
    /// <summary>The sum of the token and position embeddings.</summary>
    public static DropoutSite Embedding => new(0);

    /// <summary>The mlp model's hidden activations, after the GELU (it has no blocks, so no other site has this number).</summary>
    public static DropoutSite Hidden => new(1);

    /// <summary>Block <paramref name="block"/>'s attention output, before it joins the residual stream.</summary>
    public static DropoutSite Attention(int block) => new(1 + 2 * block);

    /// <summary>Block <paramref name="block"/>'s MLP output, before it joins the residual stream.</summary>
    public static DropoutSite Mlp(int block) => new(2 + 2 * block);

    /// <summary><paramref name="x"/> with <paramref name="masks"/>' dropout at this site; <paramref name="x"/> itself without masks.</summary>
    public Tensor Apply(Tensor x, SampleMasks? masks) => masks is null ? x : masks.Apply(x, this);
}
