using ElasticTrain.Jobs;
using ElasticTrain.Training;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ElasticTrain.Ranks.Optimization;

/// <summary>
/// What a committed step does to a model part, the same for a whole replica and a pipeline stage
/// so that their curves agree: the summed gradient divided by the global batch, scaled down to the
/// clipping ceiling when the whole model's gradient norm exceeds it, then the optimizer's step at
/// the schedule's learning rate for that step.
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
        Optimizer = PartOptimizer.Create(recipe.Optimizer, job.WeightDecay, parameters);
    }

    public PartOptimizer Optimizer { get; }

    /// <summary>
    /// This part's share of the squared norm of the step's mean gradient, from the summed gradient in
    /// <paramref name="gradients"/>: the parts' shares add up to the whole model's (each parameter is
    /// held by one stage; the replicas of a stage hold the same sums).
    /// </summary>
    public double Squares(GradientBuffer gradients)
    {
        double sum = 0;
        foreach (var v in gradients.Values) sum += (double)v * v;
        return sum / ((double)_job.GlobalBatch * _job.GlobalBatch);
    }

    /// <summary>PyTorch's clip_grad_norm_: max / (norm + 1e-6) when that is below 1, else 1 (no clipping configured: 1).</summary>
    public static double ClipCoefficient(double norm, double? max) =>
        max is { } ceiling && ceiling / (norm + NormGuard) is var coefficient && coefficient < 1 ? coefficient : 1;

    /// <summary>Applies step <paramref name="step"/>: the mean gradient, clipped against the whole model's squared norm <paramref name="squares"/>.</summary>
    public void Apply(long step, GradientBuffer gradients, double squares)
    {
        var coefficient = ClipCoefficient(Math.Sqrt(squares), _recipe.ClipNorm);
        using (NewDisposeScope())
        {
            // The division by B and the clip in one pass; unclipped, the very float scale of earlier jobs.
            gradients.Scatter(coefficient == 1 ? 1f / _job.GlobalBatch : (float)(coefficient / _job.GlobalBatch));
            Optimizer.Step(_recipe.Schedule.At(step, _job.LearningRate));
        }
    }

    public void Dispose() => Optimizer.Dispose();
}
