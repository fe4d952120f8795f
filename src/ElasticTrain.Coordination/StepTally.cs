using ElasticTrain.Jobs;
using ElasticTrain.Ranks;

namespace ElasticTrain.Coordination;

/// <summary>
/// Pure: the reports of the step in flight. The step can be committed once every rank of the
/// plan has reported; <see cref="Summarize"/> then gives what the journal and the metrics record.
/// </summary>
public sealed class StepTally(StepPlan plan)
{
    private readonly Dictionary<RankId, StepExchanged> _reports = [];

    public StepPlan Plan { get; } = plan;

    public long Step => Plan.Step;

    public bool Complete => _reports.Count == Plan.Slices.Count;

    public IEnumerable<StepExchanged> Reports => _reports.Values;

    /// <summary>The ranks of the plan that have not reported yet, in ring order.</summary>
    public IReadOnlyList<RankId> Missing => [.. Plan.Slices.Select(s => s.Rank).Where(r => !_reports.ContainsKey(r))];

    /// <summary>Records a report of this step from one of its ranks; false if it is not one.</summary>
    public bool Add(StepExchanged report)
    {
        if (report.Step != Plan.Step || Plan.PositionOf(report.Rank) < 0) return false;
        _reports[report.Rank] = report;
        return true;
    }

    /// <summary>
    /// The step's loss (the sum of the ranks' per-sample losses over the global batch: the same
    /// number whatever the split; in a pipeline only last stages report a loss) and timings. All members finish the all-reduce together, so the
    /// rank that finished backward last waited least: its wait is the exchange's exposed tail; the
    /// longest wait adds load imbalance.
    /// </summary>
    public StepSummary Summarize(int globalBatch)
    {
        if (!Complete) throw new InvalidOperationException($"step {Step} has {_reports.Count} of {Plan.Slices.Count} reports");
        var reports = _reports.Values;
        return new StepSummary(
            Step,
            Loss: reports.Sum(d => d.LossSum) / globalBatch,
            World: Plan.Slices.Count,
            MaxComputeMs: reports.Max(d => d.ComputeMs),
            MaxExchangeMs: reports.Max(d => d.ExchangeMs),
            ExposedMs: reports.Min(d => d.ExposedMs),
            MaxWaitMs: reports.Max(d => d.ExposedMs),
            // A pipeline's bubble: each stage's idle share of its span, averaged over the stages.
            Bubble: reports.All(d => d.SpanMs > 0) ? reports.Average(d => d.WaitMs / d.SpanMs) : null,
            PeakHeldBytes: reports.Max(d => d.PeakHeldBytes),
            // Each stage's replicas hold the same summed gradient: one report per stage, in stage order.
            GradientSquares: Plan.Slices.GroupBy(s => s.Stage).OrderBy(g => g.Key).Sum(g => _reports[g.First().Rank].GradientSquares),
            // The first stage of each replica consumes its slice; the other stages only see it.
            Samples: Plan.Slices.Where(s => s.Stage == 0).Select(s => (s.Rank, _reports[s.Rank].SampleIds)).ToArray(),
            BytesSent: reports.Sum(d => d.BytesSent));
    }
}

/// <summary>A complete step as the coordinator commits it; <c>BytesSent</c>: what every rank's gradient exchange sent, summed.</summary>
public sealed record StepSummary(
    long Step, double Loss, int World, double MaxComputeMs, double MaxExchangeMs, double ExposedMs, double MaxWaitMs,
    double? Bubble, long PeakHeldBytes, double GradientSquares, IReadOnlyList<(RankId Rank, int[] SampleIds)> Samples, long BytesSent = 0)
{
    /// <summary>The L2 norm of the step's mean gradient over the whole model, before clipping.</summary>
    public double GradientNorm => Math.Sqrt(GradientSquares);
}
