using System.Text;

namespace ElasticTrain.Pipeline;

/// <summary>
/// The schedules as data: for a pipeline of P stages and M micro-batches per step, the ordered
/// actions each stage performs. Every stage derives its own list from (kind, P, M, s) alone, so the
/// stages agree without talking; <see cref="ScheduleSimulation"/> checks a whole table for
/// deadlock, held activations and bubble before a runtime executes it.
/// </summary>
public static class PipelineSchedule
{
    /// <summary>Stage <paramref name="stage"/>'s actions, in the order it performs them. Each
    /// micro-batch appears exactly once forward and once backward.</summary>
    public static IReadOnlyList<PipelineAction> For(ScheduleKind kind, int stages, int microBatches, int stage)
    {
        if (stages < 1)
            throw new ArgumentOutOfRangeException(nameof(stages), stages, "A pipeline needs at least one stage.");
        if (microBatches < 1)
            throw new ArgumentOutOfRangeException(nameof(microBatches), microBatches, "A step needs at least one micro-batch.");
        if (stage < 0 || stage >= stages)
            throw new ArgumentOutOfRangeException(nameof(stage), stage, $"Stages are numbered 0 to {stages - 1}.");
        return kind switch
        {
            ScheduleKind.GPipe => GPipe(microBatches),
            ScheduleKind.OneFOneB => OneFOneB(stages, microBatches, stage),
            _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "Unknown pipeline schedule."),
        };
    }

    /// <summary>Every stage's actions: row s is <see cref="For"/>(kind, stages, microBatches, s).</summary>
    public static IReadOnlyList<IReadOnlyList<PipelineAction>> Table(ScheduleKind kind, int stages, int microBatches)
    {
        if (stages < 1)
            throw new ArgumentOutOfRangeException(nameof(stages), stages, "A pipeline needs at least one stage.");
        return Enumerable.Range(0, stages).Select(s => For(kind, stages, microBatches, s)).ToArray();
    }

    /// <summary>
    /// The most micro-batches a stage holds activations of at once while it performs
    /// <paramref name="actions"/> (forwarded, not yet backwarded): what its memory must hold.
    /// </summary>
    public static int PeakInFlight(IReadOnlyList<PipelineAction> actions)
    {
        int held = 0, peak = 0;
        foreach (var action in actions)
        {
            held += action.Kind == PipelineActionKind.Forward ? 1 : -1;
            peak = Math.Max(peak, held);
        }
        return peak;
    }

    /// <summary>
    /// (P - 1) / (M + P - 1): the fraction of a step each stage idles when forward and backward
    /// costs are equal across stages, measured over the whole step (see
    /// <see cref="ScheduleRun.StepSpanBubble"/>). Both schedules reach it; only more micro-batches
    /// (or interleaved stages, which we do not have) shrink it.
    /// </summary>
    public static double IdealBubble(int stages, int microBatches)
    {
        if (stages < 1)
            throw new ArgumentOutOfRangeException(nameof(stages), stages, "A pipeline needs at least one stage.");
        if (microBatches < 1)
            throw new ArgumentOutOfRangeException(nameof(microBatches), microBatches, "A step needs at least one micro-batch.");
        return (double)(stages - 1) / (microBatches + stages - 1);
    }

    /// <summary>The table, one row per stage, actions in order and columns aligned by position
    /// (not by time): "stage 0: F0 F1 B0 F2 B1 B2".</summary>
    public static string Format(IReadOnlyList<IReadOnlyList<PipelineAction>> table)
    {
        var width = table.SelectMany(row => row).Select(a => a.ToString().Length).DefaultIfEmpty(0).Max();
        var label = $"stage {table.Count - 1}".Length;
        var text = new StringBuilder();
        for (int s = 0; s < table.Count; s++)
        {
            var row = string.Join(' ', table[s].Select(a => a.ToString().PadRight(width)));
            text.Append($"stage {s}".PadRight(label)).Append(": ").Append(row.TrimEnd()).Append('\n');
        }
        return text.ToString();
    }

    // Backwards run in micro-batch order 0..M-1, not in reverse. Both take the same time (all
    // activations are held either way), but this is the order 1F1B must use, so both schedules
    // accumulate a stage's micro-batch gradients in the same order: same floating-point sums,
    // so switching schedule cannot change the loss curve by even a rounding.
    private static PipelineAction[] GPipe(int microBatches) =>
        [
            .. Enumerable.Range(0, microBatches).Select(PipelineAction.Forward),
            .. Enumerable.Range(0, microBatches).Select(PipelineAction.Backward),
        ];

    // Warm-up: stage s forwards min(P - s - 1, M) micro-batches, enough to keep it busy until the
    // first backward comes back from the last stage; a shorter warm-up only idles it (no warm-up
    // anywhere serializes the pipeline). What deadlocks is a stage warming up fewer forwards than
    // the stage after it: it waits for Backward(0) before sending a forward that stage s+1 must run
    // before it can produce Backward(0). Steady state: one forward, then the oldest outstanding backward, so at most P - s
    // micro-batches are in flight. Cool-down: the remaining backwards. When M < P the warm-up eats
    // every micro-batch on the early stages, which then run as GPipe: a bigger bubble, no hang.
    private static PipelineAction[] OneFOneB(int stages, int microBatches, int stage)
    {
        var warmUp = Math.Min(stages - stage - 1, microBatches);
        var actions = new List<PipelineAction>(2 * microBatches);
        for (int m = 0; m < warmUp; m++)
            actions.Add(PipelineAction.Forward(m));
        for (int m = warmUp; m < microBatches; m++)
        {
            actions.Add(PipelineAction.Forward(m));
            actions.Add(PipelineAction.Backward(m - warmUp));
        }
        for (int m = microBatches - warmUp; m < microBatches; m++)
            actions.Add(PipelineAction.Backward(m));
        return [.. actions];
    }
}
