namespace ElasticTrain.Pipeline;

/// <summary>
/// Plays a schedule table with every stage against the others, without threads, to show before
/// anything runs that it finishes and what it costs. Each stage performs its actions in order; an
/// action starts at the earliest time its stage is free and its input has arrived: Forward(m) on
/// stage s needs Forward(m) done on s-1 (stage 0 reads its micro-batch itself); Backward(m) needs
/// Forward(m) done on s itself (the activations it differentiates) and, except on the last stage,
/// Backward(m) done on s+1. Transfers take no time here: the runtime overlaps them with compute,
/// and where it cannot, the measured bubble will exceed the simulated one.
/// </summary>
public static class ScheduleSimulation
{
    /// <summary>Every stage costs the same: <paramref name="forwardCost"/> per forward and
    /// <paramref name="backwardCost"/> per backward of one micro-batch.</summary>
    public static ScheduleRun Run(IReadOnlyList<IReadOnlyList<PipelineAction>> table, double forwardCost = 1, double backwardCost = 1) =>
        Run(table, Enumerable.Repeat(forwardCost, table.Count).ToArray(), Enumerable.Repeat(backwardCost, table.Count).ToArray());

    /// <summary>Stage s costs <paramref name="forwardCosts"/>[s] per forward and
    /// <paramref name="backwardCosts"/>[s] per backward of one micro-batch.</summary>
    /// <exception cref="ArgumentException">A stage does not perform each micro-batch exactly once
    /// forward and once backward, or a cost is not positive: that is a wrong table, not an order
    /// that deadlocks, so it is refused rather than simulated.</exception>
    public static ScheduleRun Run(IReadOnlyList<IReadOnlyList<PipelineAction>> table,
        IReadOnlyList<double> forwardCosts, IReadOnlyList<double> backwardCosts)
    {
        var stages = table.Count;
        if (stages < 1) throw new ArgumentException("A schedule table needs at least one stage.", nameof(table));
        CheckCosts(forwardCosts, stages, nameof(forwardCosts));
        CheckCosts(backwardCosts, stages, nameof(backwardCosts));
        var microBatches = CheckEachMicroBatchOnce(table);

        // finished[s][kind][m]: when stage s finished that action; NaN until it has.
        var finished = new double[stages][][];
        for (int s = 0; s < stages; s++)
            finished[s] = [Unfinished(microBatches), Unfinished(microBatches)];
        var done = new List<TimedAction>[stages];
        var freeAt = new double[stages];
        for (int s = 0; s < stages; s++) done[s] = [];

        // A stage's next action either can start now (its inputs have finished times, so its start
        // is settled) or waits for another stage's progress; sweep until no stage can advance.
        // That settles exactly the times an event-by-event simulation would, in dependency order.
        for (bool advanced = true; advanced;)
        {
            advanced = false;
            for (int s = 0; s < stages; s++)
                while (done[s].Count < table[s].Count)
                {
                    var action = table[s][done[s].Count];
                    var start = freeAt[s];
                    var ready = true;
                    foreach (var (stage, input) in Inputs(s, action, stages))
                    {
                        var at = finished[stage][(int)input.Kind][input.MicroBatch];
                        if (double.IsNaN(at)) { ready = false; break; }
                        start = Math.Max(start, at);
                    }
                    if (!ready) break;
                    var end = start + (action.Kind == PipelineActionKind.Forward ? forwardCosts[s] : backwardCosts[s]);
                    finished[s][(int)action.Kind][action.MicroBatch] = end;
                    done[s].Add(new TimedAction(action, start, end));
                    freeAt[s] = end;
                    advanced = true;
                }
        }

        var stalls = new List<Stall>();
        for (int s = 0; s < stages; s++)
        {
            if (done[s].Count == table[s].Count) continue;
            var next = table[s][done[s].Count];
            var (stage, input) = Inputs(s, next, stages).First(i => double.IsNaN(finished[i.Stage][(int)i.Action.Kind][i.Action.MicroBatch]));
            stalls.Add(new Stall(s, next, stage, input));
        }
        return new ScheduleRun(done, stalls);
    }

    /// <summary>What <paramref name="action"/> on <paramref name="stage"/> must wait for, as
    /// (stage, action) pairs.</summary>
    private static IEnumerable<(int Stage, PipelineAction Action)> Inputs(int stage, PipelineAction action, int stages)
    {
        if (action.Kind == PipelineActionKind.Forward)
        {
            if (stage > 0) yield return (stage - 1, PipelineAction.Forward(action.MicroBatch));
            yield break;
        }
        yield return (stage, PipelineAction.Forward(action.MicroBatch));
        if (stage < stages - 1) yield return (stage + 1, PipelineAction.Backward(action.MicroBatch));
    }

    /// <summary>Every row holds micro-batches 0..M-1 once forward and once backward, with the
    /// same M on every stage; returns M.</summary>
    private static int CheckEachMicroBatchOnce(IReadOnlyList<IReadOnlyList<PipelineAction>> table)
    {
        var microBatches = table[0].Count / 2;
        if (microBatches == 0)
            throw new ArgumentException("Stage 0 performs no micro-batch; a step has at least one.", nameof(table));
        for (int s = 0; s < table.Count; s++)
        {
            var expected = Enumerable.Range(0, microBatches)
                .SelectMany(m => new[] { PipelineAction.Forward(m), PipelineAction.Backward(m) });
            var row = table[s];
            if (row.Count != 2 * microBatches || !row.Order(ByKindThenMicroBatch).SequenceEqual(expected.Order(ByKindThenMicroBatch)))
                throw new ArgumentException(
                    $"Every stage must perform micro-batches 0 to {microBatches - 1} (from stage 0's {table[0].Count} actions) " +
                    $"once forward and once backward; stage {s}'s actions are: {string.Join(' ', row)}.", nameof(table));
        }
        return microBatches;
    }

    private static readonly Comparer<PipelineAction> ByKindThenMicroBatch =
        Comparer<PipelineAction>.Create((a, b) => a.Kind != b.Kind ? a.Kind.CompareTo(b.Kind) : a.MicroBatch.CompareTo(b.MicroBatch));

    private static void CheckCosts(IReadOnlyList<double> costs, int stages, string name)
    {
        if (costs.Count != stages)
            throw new ArgumentException($"Expected one cost per stage ({stages}), got {costs.Count}.", name);
        for (int s = 0; s < stages; s++)
            if (!(costs[s] > 0) || !double.IsFinite(costs[s]))
                throw new ArgumentException($"Stage {s}'s cost must be positive and finite, got {costs[s]}.", name);
    }

    private static double[] Unfinished(int microBatches) => Enumerable.Repeat(double.NaN, microBatches).ToArray();
}
