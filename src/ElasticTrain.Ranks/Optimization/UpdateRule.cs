using ElasticTrain.Jobs;
using ElasticTrain.Training;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ElasticTrain.Ranks.Optimization;

/// <summary>
/// What a committed step does to a model part, the same for a whole replica and a pipeline stage
/// so that their curves agree: the summed gradient divided by the global batch, scaled down to the
/// clipping ceiling when the whole model's gradient norm exceeds it, then the optimizer's step at
/// the schedule's learning rate for that step. Under fp16 the gradient was computed from the loss
/// times the step's loss scale: it is divided by the scale too, and a step whose gradient
/// overflowed anywhere in the model is skipped.
/// </summary>
public sealed class UpdateRule : IDisposable
{
    /// <summary>PyTorch's clip_grad_norm_ guard against a zero norm.</summary>
    private const double NormGuard = 1e-6;

    private readonly JobConfig _job;
    private readonly TrainingRecipe _recipe;

    public UpdateRule(JobConfig job, TrainingRecipe recipe, IReadOnlyList<Parameter> parameters)
    {
        _job = job;
        _recipe = recipe;
        Optimizer = PartOptimizer.Create(recipe.Optimizer, job.WeightDecay, parameters, recipe.Moments);
    }

    public PartOptimizer Optimizer { get; }

    /// <summary>What forward and backward run in (<see cref="Models.Autocast"/>); null for fp32.</summary>
    public ScalarType? Compute => _recipe.Precision switch
    {
        Precision.Bf16 => ScalarType.BFloat16,
        Precision.Fp16 => ScalarType.Float16,
        _ => null,
    };

    /// <summary>
    /// This part's share of the squared norm of the step's mean gradient, from the summed gradient in
    /// <paramref name="gradients"/>: the parts' shares add up to the whole model's (each parameter is
    /// held by one stage; the replicas of a stage hold the same sums). Not finite when the gradient
    /// overflowed: the sum of the parts then is not finite either, and every part skips the step.
    /// </summary>
    /// <param name="lossScale">What the loss was multiplied by before backward (1 unless fp16).</param>
    public double Squares(GradientBuffer gradients, double lossScale = 1)
    {
        var sum = SquaredNorm.Of(gradients.Values);
        var mean = (double)_job.GlobalBatch * lossScale;
        return sum / (mean * mean);
    }

    /// <summary>Whether a step with the whole model's squared gradient norm <paramref name="squares"/> is applied: not when the gradient overflowed.</summary>
    public static bool Applies(double squares) => double.IsFinite(squares);

    /// <summary>PyTorch's clip_grad_norm_: max / (norm + 1e-6) when that is below 1, else 1 (no clipping configured: 1).</summary>
    public static double ClipCoefficient(double norm, double? max) =>
        max is { } ceiling && ceiling / (norm + NormGuard) is var coefficient && coefficient < 1 ? coefficient : 1;

    /// <summary>
    /// LAMB's trust ratio of a tensor from the L2 norms of its weights and of its update:
    /// weight / update, and 1 (the plain Adam step) when either is 0, as the reference implementations do.
    /// </summary>
    public static double TrustRatio(double weightNorm, double updateNorm) =>
        weightNorm > 0 && updateNorm > 0 ? weightNorm / updateNorm : 1.0;

    /// <summary>
    /// Applies step <paramref name="step"/>: the mean gradient, clipped against the whole model's
    /// squared norm <paramref name="squares"/>; nothing when that is not finite (an overflow).
    /// </summary>
    /// <param name="lossScale">What the loss was multiplied by before backward (1 unless fp16).</param>
    /// <param name="secondMoment">On a top-k job's refresh step: the ranks' mean second moment, laid out as <paramref name="gradients"/>.</param>
    /// <returns>Whether the step was applied.</returns>
    public bool Apply(long step, GradientBuffer gradients, double squares, double lossScale = 1, float[]? secondMoment = null)
    {
        if (!Applies(squares)) return false;
        var coefficient = ClipCoefficient(Math.Sqrt(squares), _recipe.ClipNorm);
        // The division by B (and the scale) and the clip in one factor; unscaled and unclipped,
        // the very float factor of earlier jobs.
        var factor = coefficient == 1 && lossScale == 1 ? 1f / _job.GlobalBatch : (float)(coefficient / (_job.GlobalBatch * lossScale));
        var rate = _recipe.Schedule.At(step, _job.LearningRate);
        AppliedFactor = factor;
        using (NewDisposeScope())
        {
            // AdamW in memory reads the sums and multiplies as it goes: a pass over the model's
            // gradient and back less, between the commit and the next forward (0.8-1.1 ms of the
            // default GPT's 2.8-3.4 ms update, docs/PERFORMANCE.md).
            if (Optimizer.StepsFromSums) Optimizer.Step(rate, gradients, factor);
            else
            {
                gradients.Scatter(factor);
                if (Optimizer is RefreshedMomentAdam adam) adam.Step(rate, step, secondMoment, gradients);
                else Optimizer.Step(rate);
            }
        }
        return true;
    }

    /// <summary>What the last applied step multiplied the summed gradient by: its mean gradient is the sums times this.</summary>
    public float AppliedFactor { get; private set; } = float.NaN;

    public void Dispose() => Optimizer.Dispose();
}
