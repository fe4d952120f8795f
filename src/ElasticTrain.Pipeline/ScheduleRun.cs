namespace ElasticTrain.Pipeline;

/// <summary>An action as <see cref="ScheduleSimulation"/> timed it on its stage.</summary>
public sealed record TimedAction(PipelineAction Action, double Start, double End);

/// <summary>
/// Why a stage of a deadlocked schedule cannot go on: its next action <see cref="Next"/> waits
/// for <see cref="WaitsFor"/> on stage <see cref="WaitsOnStage"/> (possibly itself), which will
/// never happen because that stage is stuck too, or ordered it later.
/// </summary>
public sealed record Stall(int Stage, PipelineAction Next, int WaitsOnStage, PipelineAction WaitsFor)
{
    public override string ToString() => $"stage {Stage} stuck at {Next}, waiting for {WaitsFor} on stage {WaitsOnStage}";
}

/// <summary>
/// The outcome of simulating a schedule table: the actions each stage performed with their times,
/// and, if it deadlocked, where each unfinished stage is stuck. The measures of cost
/// (<see cref="Makespan"/>, the bubbles, <see cref="PeakInFlight"/>) only mean something for a
/// complete run and throw otherwise, so a deadlock cannot pass unnoticed as a cheap schedule.
/// </summary>
public sealed class ScheduleRun
{
    public ScheduleRun(IReadOnlyList<IReadOnlyList<TimedAction>> stages, IReadOnlyList<Stall> stalls)
    {
        Stages = stages;
        Stalls = stalls;
    }

    /// <summary>Per stage, the actions it performed, in order, with their times.</summary>
    public IReadOnlyList<IReadOnlyList<TimedAction>> Stages { get; }

    /// <summary>One entry per stage that could not finish; empty when the schedule completed.</summary>
    public IReadOnlyList<Stall> Stalls { get; }

    public bool Completed => Stalls.Count == 0;

    /// <summary>From the first forward to the last backward of the step.</summary>
    public double Makespan => Complete().Max(row => row[^1].End) - Stages.Min(row => row[0].Start);

    /// <summary>Per stage, the time spent computing.</summary>
    public IReadOnlyList<double> BusyTime => Complete().Select(row => row.Sum(a => a.End - a.Start)).ToArray();

    /// <summary>
    /// The bubble over each stage's own span: per stage, the fraction of the time from its first
    /// forward's start to its last backward's end that it is not computing, averaged over stages.
    /// The ramps before a stage's first forward and after its last backward fall outside its span,
    /// so with equal costs this is mean over s of (P-1-s)/(M+P-1-s), below
    /// <see cref="PipelineSchedule.IdealBubble"/> for P > 1.
    /// </summary>
    public double StageSpanBubble =>
        Complete().Average(row =>
        {
            var span = row[^1].End - row[0].Start;
            return (span - row.Sum(a => a.End - a.Start)) / span;
        });

    /// <summary>
    /// The bubble over the step's span: per stage, the fraction of the time from the step's first
    /// forward to the step's last backward that it is not computing, averaged over stages. With
    /// equal costs this is exactly <see cref="PipelineSchedule.IdealBubble"/>, (P-1)/(M+P-1), the
    /// figure `bench pipeline` compares a measured bubble with.
    /// </summary>
    public double StepSpanBubble
    {
        get
        {
            var span = Makespan;
            return BusyTime.Average(busy => (span - busy) / span);
        }
    }

    /// <summary>Per stage, the most micro-batches forwarded and not yet backwarded at once: the
    /// activations it must hold for its backwards.</summary>
    public IReadOnlyList<int> PeakInFlight =>
        Complete().Select(row =>
        {
            int held = 0, peak = 0;
            foreach (var timed in row)
            {
                held += timed.Action.Kind == PipelineActionKind.Forward ? 1 : -1;
                peak = Math.Max(peak, held);
            }
            return peak;
        }).ToArray();

    public override string ToString() =>
        Completed
            ? $"completed: makespan {Makespan}, step-span bubble {StepSpanBubble:F4}, stage-span bubble {StageSpanBubble:F4}, peak in flight [{string.Join(", ", PeakInFlight)}]"
            : $"deadlocked: {string.Join("; ", Stalls)}";

    private IReadOnlyList<IReadOnlyList<TimedAction>> Complete() =>
        Completed ? Stages : throw new InvalidOperationException($"The schedule deadlocked, so it has no cost: {string.Join("; ", Stalls)}.");
}
