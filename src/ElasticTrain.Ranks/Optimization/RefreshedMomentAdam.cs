using ElasticTrain.Models;
using ElasticTrain.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ElasticTrain.Ranks.Optimization;

/// <summary>
/// Adam or AdamW for a top-k job (<see cref="SecondMomentRefresh"/>): PyTorch's rule, written in
/// tensor operations because its second moment must come from outside. During the dense steps it
/// is torch.optim's Adam(W) step for step; after them the second moment no longer takes in the
/// (sparse) gradient, and on a refresh step it is replaced, before the step, by the ranks' mean of
/// their own (<see cref="Step"/>). Its bias correction then uses the step the moment last took in
/// (<see cref="SecondMomentRefresh.MomentStep"/>), so the moment is read as Adam would have read it
/// then, though never below the least Adam's own could be beside its first moment
/// (<see cref="FirstMomentBound"/>). The slots are AdamW's, so checkpoints move between this rule
/// and torch.optim's.
/// </summary>
internal sealed class RefreshedMomentAdam : MomentOptimizer<MomentState>
{
    private readonly OptimizerSettings _settings;
    private readonly SecondMomentRefresh _moments;

    public RefreshedMomentAdam(OptimizerSettings settings, SecondMomentRefresh moments, double weightDecay, List<Parameter> decayed, List<Parameter> exempt)
        : base(weightDecay, decayed, exempt, (p, decay) => new MomentState(p, decay))
    {
        if (settings.Kind is not (OptimizerKind.Adam or OptimizerKind.AdamW))
            throw new ArgumentException($"the second moment is refreshed for adam and adamw only, not {settings.Name}", nameof(settings));
        _settings = settings;
        _moments = moments;
    }

    /// <summary>A step without the job's step number: only for a rule that needs none. This one does.</summary>
    public override void Step(double learningRate) =>
        throw new InvalidOperationException("a top-k job's Adam steps with the job's step number (Step(rate, step, refreshed))");

    /// <summary>
    /// Job step <paramref name="step"/>: when <paramref name="refreshed"/> is given (a refresh step),
    /// each parameter's second moment becomes its slice of it first, in <paramref name="layout"/>'s order.
    /// </summary>
    public void Step(double learningRate, long step, float[]? refreshed, GradientBuffer layout)
    {
        double beta1 = _settings.Beta1, beta2 = _settings.Beta2;
        var dense = _moments.IsDense(step);
        using Scalar keep1 = beta1, keep2 = beta2, take1 = 1 - beta1, take2 = 1 - beta2, eps = _settings.Eps, floor = FirstMomentBound(beta1, beta2);
        using var noGrad = no_grad();
        if (refreshed is not null) Refresh(refreshed, layout);
        foreach (var state in States)
        {
            using var scope = NewDisposeScope();
            var grad = state.Parameter.grad;
            if (grad is null) continue;
            var weights = state.Parameter;
            state.Step++;
            if (state.Decay != 0)
            {
                if (_settings.Kind == OptimizerKind.AdamW)
                {
                    using Scalar shrink = 1 - learningRate * state.Decay;
                    weights.mul_(shrink);
                }
                else
                {
                    using Scalar decay = state.Decay;
                    grad = grad.add(weights, alpha: decay);
                }
            }
            state.ExpAvg.mul_(keep1).add_(grad, alpha: take1);
            if (dense) state.ExpAvgSq.mul_(keep2).addcmul_(grad, grad, value: take2);
            // Held, the moment is never read below the least Adam's own could be beside its first
            // moment (FirstMomentBound): a coordinate whose estimate is zero (no rank had a gradient
            // for it at the refresh, as for a token none of their slices held) would otherwise
            // move by m / eps on every step from top-k's first send of it, and the job diverges.
            var moment = dense ? state.ExpAvgSq : state.ExpAvgSq.maximum(state.ExpAvg.square().mul_(floor));
            var momentStep = dense ? state.Step : _moments.MomentStep(step);
            var denominator = moment.sqrt().DividedBy(Math.Sqrt(1 - Math.Pow(beta2, momentStep))).add_(eps);
            using Scalar size = -learningRate / (1 - Math.Pow(beta1, state.Step));
            weights.addcdiv_(state.ExpAvg, denominator, value: size);
        }
    }

    /// <summary>
    /// The least Adam's second moment can be against the square of its first, at any step:
    /// v ≥ (1 - beta2)(1 - beta1²/beta2) / (1 - beta1)² · m² (Cauchy-Schwarz over the two
    /// averages of the same gradients; 0.0189 at the defaults). So a step reading the moment no
    /// lower moves by at most sqrt((1 - beta2^s) / bound) / (1 - beta1^t) learning rates.
    /// </summary>
    internal static double FirstMomentBound(double beta1, double beta2) =>
        (1 - beta2) * (1 - beta1 * beta1 / beta2) / ((1 - beta1) * (1 - beta1));

    /// <summary>Each parameter's second moment becomes its slice of <paramref name="refreshed"/> (laid out as the gradient buffer).</summary>
    private void Refresh(float[] refreshed, GradientBuffer layout)
    {
        if (refreshed.Length != layout.Values.Length)
            throw new ArgumentException($"a refreshed second moment of {refreshed.Length} values for {layout.Values.Length} parameters' values", nameof(refreshed));
        for (int i = 0; i < layout.Parameters.Count; i++)
        {
            var (offset, count) = layout.RangeOf(i);
            var state = Find(layout.Parameters[i]);
            using var slice = tensor(refreshed.AsSpan(offset, count).ToArray(), state.ExpAvgSq.shape);
            state.ExpAvgSq.copy_(slice);
        }
    }
}
