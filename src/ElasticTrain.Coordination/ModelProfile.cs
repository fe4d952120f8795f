using ElasticTrain.Models;

namespace ElasticTrain.Coordination;

/// <summary>
/// What the planner knows of the model, per pipeline layer (embeddings and output included).
/// </summary>
/// <param name="CostPerSample">Forward plus backward time of one sample, measured (or estimated before measurement).</param>
/// <param name="StateBytes">Parameters, gradients and optimizer state the layer's holder keeps.</param>
/// <param name="ActivationBytesPerSample">What forward keeps for backward, per sample.</param>
public sealed record ModelProfile(IReadOnlyList<double> CostPerSample, IReadOnlyList<long> StateBytes, IReadOnlyList<long> ActivationBytesPerSample)
{
    /// <summary>float32.</summary>
    private const long FloatBytes = 4;

    /// <summary>Each parameter is held four times: its value, its gradient and AdamW's two moments.</summary>
    private const long StateCopies = 4;

    public int Layers => CostPerSample.Count;

    /// <summary>
    /// The planner's estimate before anything is measured, from the model's shape alone, per
    /// <see cref="ModelSpec.PipelineLayers"/> layer (gpt: embeddings, each block, final LayerNorm with
    /// the head; mlp: embeddings, hidden, output). Costs are in FLOPs of one sample's forward and
    /// backward; only their ratios matter to the planner, so the approximations below need to be
    /// roughly proportional, not exact.
    /// </summary>
    public static ModelProfile Estimate(ModelSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        long t = spec.Block, w = spec.Width, v = spec.Vocab, h = spec.Heads;
        var layers = new List<(long Parameters, double Cost, long ActivationFloats)>
        {
            // Token and position tables. A lookup does no matmul; forward adds the two rows and
            // backward scatters the gradient into both tables: about 3 operations per output value.
            // What stays alive for the next layer is the [T, W] sum.
            (v * w + t * w, 3.0 * t * w, t * w),
        };
        if (spec.Name == ModelSpec.GptName)
        {
            // A block: ln1 and ln2 (2W each), qkv (3W^2 + 3W), proj (W^2 + W), fc (4W^2 + 4W),
            // out (4W^2 + W). Matmuls cost 2 FLOPs per weight and token forward and 4 backward
            // (input and weight gradients): 6 x 12W^2 x T. Attention adds Q K^T and the weighted sum
            // of V, each 2 T^2 W forward (the causal mask does not skip the upper half here), and
            // twice that backward: 12 T^2 W. Kept for backward, roughly: the block's input, ln1's
            // output, q, k and v, the attention's output, the residual sum, ln2's output (8 TW), fc's
            // output and the GELU's (8 TW), and per head the scores and their softmax (2 H T^2).
            var block = (12 * w * w + 13 * w, 6.0 * 12 * w * w * t + 12.0 * t * t * w, 16 * t * w + 2 * h * t * t);
            for (int i = 0; i < spec.Layers; i++) layers.Add(block);
            // Final LayerNorm (2W) and the bias-free head (W x V): the head's matmul, 6 W V T. Kept:
            // the LayerNorm's input and output (2 TW), and the logits with the loss's softmax (2 TV).
            layers.Add((2 * w + w * v, 6.0 * w * v * t, 2 * t * w + 2 * t * v));
        }
        else
        {
            // Hidden: fc (W x 4W + 4W) and a GELU. Kept: the input, fc's output and the GELU's (9 TW).
            layers.Add((4 * w * w + 4 * w, 6.0 * 4 * w * w * t, 9 * t * w));
            // Output: out (4W x V + V). Kept: its input (4 TW), the logits and the loss's softmax (2 TV).
            layers.Add((4 * w * v + v, 6.0 * 4 * w * v * t, 4 * t * w + 2 * t * v));
        }
        return new ModelProfile(
            [.. layers.Select(l => l.Cost)],
            [.. layers.Select(l => l.Parameters * FloatBytes * StateCopies)],
            [.. layers.Select(l => l.ActivationFloats * FloatBytes)]);
    }
}
