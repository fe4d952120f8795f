using ElasticTrain.Jobs;

namespace ElasticTrain.Coordination;

/// <summary>
/// Pure: the per-layer costs the mesh planner balances stages by. Until the job has run a step
/// they are the estimate from the model's shape; from then on they are measured: each stage's busy
/// time per sample (its span less its waits for neighbours, averaged over its replicas; a whole
/// replica's compute time) shared among its layers in the estimate's proportions, and smoothed over
/// about five steps. A stage's time cannot be split among its layers by timing alone (backward
/// runs as one graph), so the shares within a stage come from the shape; across stages, which is
/// what a partition trades, they come from the clock. After a re-plan the layers keep their
/// values, so the next stages are measured again from there.
/// </summary>
public sealed class LayerCosts(ModelProfile estimate)
{
    private const double Smoothing = 0.2;
    private readonly double[] _costs = [.. estimate.CostPerSample];

    /// <summary>Steps measured since <see cref="Restart"/>.</summary>
    public int Measured { get; private set; }

    /// <summary>Whether any step has been measured: then every layer's cost is in milliseconds per sample.</summary>
    public bool Calibrated { get; private set; }

    /// <summary>The model's profile with the current costs.</summary>
    public ModelProfile Profile => estimate with { CostPerSample = [.. _costs] };

    /// <summary>Counts measurements afresh (a new mesh).</summary>
    public void Restart() => Measured = 0;

    /// <param name="partition">The mesh's partition when the step ran.</param>
    /// <param name="busyMsPerSample">Per stage, its busy time per sample in the step.</param>
    public void Measure(StagePartition partition, IReadOnlyList<double> busyMsPerSample)
    {
        if (busyMsPerSample.Count != partition.Stages || busyMsPerSample.Any(b => !double.IsFinite(b) || b <= 0)) return;
        var shares = partition.StageCosts(estimate.CostPerSample);
        for (var s = 0; s < partition.Stages; s++)
            for (var layer = partition.FirstLayer(s); layer < partition.EndLayer(s); layer++)
            {
                var measured = shares[s] > 0 ? estimate.CostPerSample[layer] / shares[s] * busyMsPerSample[s] : busyMsPerSample[s] / (partition.EndLayer(s) - partition.FirstLayer(s));
                _costs[layer] = Calibrated ? (1 - Smoothing) * _costs[layer] + Smoothing * measured : measured;
            }
        Calibrated = true;
        Measured++;
    }
}
