using ElasticTrain.Pipeline;

namespace ElasticTrain.Tests.Pipeline;

public class ScheduleSimulationTests
{
    private const double Tolerance = 1e-12;

    public static TheoryData<ScheduleKind, double, double> KindsAndCosts => new()
    {
        { ScheduleKind.GPipe, 1, 1 },
        { ScheduleKind.GPipe, 1, 2 },
        { ScheduleKind.OneFOneB, 1, 1 },
        { ScheduleKind.OneFOneB, 1, 2 },
    };

    [Theory]
    [InlineData(ScheduleKind.GPipe)]
    [InlineData(ScheduleKind.OneFOneB)]
    public void Both_schedules_finish_with_micro_batches_below_equal_to_and_above_the_stage_count(ScheduleKind kind)
    {
        foreach (var (stages, microBatches, table) in Grid(kind))
        {
            var run = ScheduleSimulation.Run(table);
            Assert.True(run.Completed, $"{kind} P={stages} M={microBatches} {run}\n{PipelineSchedule.Format(table)}");
            Assert.All(run.Stages, row => Assert.Equal(2 * microBatches, row.Count));
        }
    }

    [Fact]
    public void OneFOneB_holds_at_most_P_minus_s_micro_batches_at_stage_s_and_GPipe_holds_all_M()
    {
        foreach (var (stages, microBatches, table) in Grid(ScheduleKind.OneFOneB))
        {
            var peaks = ScheduleSimulation.Run(table).PeakInFlight;
            for (int s = 0; s < stages; s++)
            {
                Assert.True(peaks[s] == Math.Min(stages - s, microBatches),
                    $"1F1B P={stages} M={microBatches}: stage {s} holds {peaks[s]}\n{PipelineSchedule.Format(table)}");
                // What the planner budgets memory with, read off the stage's own list.
                Assert.Equal(peaks[s], PipelineSchedule.PeakInFlight(table[s]));
            }
        }
        foreach (var (stages, microBatches, table) in Grid(ScheduleKind.GPipe))
            Assert.All(ScheduleSimulation.Run(table).PeakInFlight, peak => Assert.Equal(microBatches, peak));
    }

    [Theory]
    [MemberData(nameof(KindsAndCosts))]
    public void With_equal_costs_a_step_takes_M_plus_P_minus_1_forward_backward_slots(ScheduleKind kind, double forward, double backward)
    {
        foreach (var (stages, microBatches, table) in Grid(kind))
        {
            var run = ScheduleSimulation.Run(table, forward, backward);
            Assert.True(Math.Abs(run.Makespan - (microBatches + stages - 1) * (forward + backward)) < Tolerance,
                $"{kind} P={stages} M={microBatches}: {run}\n{PipelineSchedule.Format(table)}");
        }
    }

    /// <summary>Over the step's span every stage idles P-1 of M+P-1 slots: P-1 forward slots
    /// before its first forward or while waiting, P-1 backward slots likewise.</summary>
    [Theory]
    [MemberData(nameof(KindsAndCosts))]
    public void With_equal_costs_the_step_span_bubble_is_exactly_the_ideal(ScheduleKind kind, double forward, double backward)
    {
        foreach (var (stages, microBatches, table) in Grid(kind))
        {
            var run = ScheduleSimulation.Run(table, forward, backward);
            Assert.True(Math.Abs(run.StepSpanBubble - PipelineSchedule.IdealBubble(stages, microBatches)) < Tolerance,
                $"{kind} P={stages} M={microBatches}: {run}, ideal {PipelineSchedule.IdealBubble(stages, microBatches)}\n{PipelineSchedule.Format(table)}");
        }
    }

    /// <summary>Stage s starts s forward slots late and ends s backward slots early, so its own
    /// span is M+P-1-s slots of which M compute: it idles (P-1-s)/(M+P-1-s). The mean over stages
    /// is below the ideal (P-1)/(M+P-1) for P > 1: for P=2, M=8 it is 1/18 against 1/9.</summary>
    [Theory]
    [MemberData(nameof(KindsAndCosts))]
    public void With_equal_costs_the_stage_span_bubble_is_the_mean_of_P_minus_1_minus_s_over_M_plus_P_minus_1_minus_s(
        ScheduleKind kind, double forward, double backward)
    {
        foreach (var (stages, microBatches, table) in Grid(kind))
        {
            var expected = Enumerable.Range(0, stages).Average(s => (double)(stages - 1 - s) / (microBatches + stages - 1 - s));
            var run = ScheduleSimulation.Run(table, forward, backward);
            Assert.True(Math.Abs(run.StageSpanBubble - expected) < Tolerance,
                $"{kind} P={stages} M={microBatches}: {run}, expected {expected}\n{PipelineSchedule.Format(table)}");
            if (stages > 1)
                Assert.True(run.StageSpanBubble < PipelineSchedule.IdealBubble(stages, microBatches));
        }
    }

    [Fact]
    public void Each_stage_runs_at_its_own_forward_and_backward_cost()
    {
        var run = ScheduleSimulation.Run(PipelineSchedule.Table(ScheduleKind.OneFOneB, stages: 2, microBatches: 1),
            forwardCosts: [1, 3], backwardCosts: [2, 4]);
        Assert.Equal([new TimedAction(PipelineAction.Forward(0), 0, 1), new TimedAction(PipelineAction.Backward(0), 8, 10)], run.Stages[0]);
        Assert.Equal([new TimedAction(PipelineAction.Forward(0), 1, 4), new TimedAction(PipelineAction.Backward(0), 4, 8)], run.Stages[1]);
        Assert.Equal(10, run.Makespan);
        Assert.Equal([3.0, 7.0], run.BusyTime);
    }

    [Theory]
    [InlineData(ScheduleKind.GPipe)]
    [InlineData(ScheduleKind.OneFOneB)]
    public void A_stage_twice_as_slow_as_the_others_leaves_them_idle_beyond_the_ideal_bubble(ScheduleKind kind)
    {
        var run = ScheduleSimulation.Run(PipelineSchedule.Table(kind, stages: 4, microBatches: 8),
            forwardCosts: [1, 1, 2, 1], backwardCosts: [2, 2, 4, 2]);
        Assert.True(run.Completed);
        Assert.True(run.StepSpanBubble > PipelineSchedule.IdealBubble(4, 8) + 0.1, run.ToString());
    }

    [Fact]
    public void A_stage_that_runs_a_backward_before_its_forward_is_reported_stuck_waiting_on_itself()
    {
        var table = PipelineSchedule.Table(ScheduleKind.OneFOneB, stages: 3, microBatches: 4).ToArray();
        table[1] = Row("B0 F0 F1 F2 B1 F3 B2 B3");
        var run = ScheduleSimulation.Run(table);
        Assert.False(run.Completed);
        Assert.Equal(
            [
                new Stall(0, PipelineAction.Backward(0), 1, PipelineAction.Backward(0)),
                new Stall(1, PipelineAction.Backward(0), 1, PipelineAction.Forward(0)),
                new Stall(2, PipelineAction.Forward(0), 1, PipelineAction.Forward(0)),
            ],
            run.Stalls);
    }

    [Fact]
    public void Two_stages_that_order_micro_batches_inconsistently_are_reported_waiting_on_each_other()
    {
        var run = ScheduleSimulation.Run([Row("F0 B0 F1 B1"), Row("F1 F0 B0 B1")]);
        Assert.Equal(
            [
                new Stall(0, PipelineAction.Backward(0), 1, PipelineAction.Backward(0)),
                new Stall(1, PipelineAction.Forward(1), 0, PipelineAction.Forward(1)),
            ],
            run.Stalls);
        Assert.Equal("stage 1 stuck at F1, waiting for F1 on stage 0", run.Stalls[1].ToString());
    }

    [Fact]
    public void A_stage_that_warms_up_fewer_forwards_than_the_next_one_deadlocks_the_pipeline()
    {
        // Stage 0 waits for Backward(0) before sending Forward(1), which stage 1 (warming up one
        // forward) needs before it runs the Backward(0) that stage 0 waits for: a stage must not
        // warm up fewer forwards than the stage after it.
        var table = PipelineSchedule.Table(ScheduleKind.OneFOneB, stages: 3, microBatches: 3).ToArray();
        table[0] = PipelineSchedule.For(ScheduleKind.OneFOneB, stages: 3, microBatches: 3, stage: 2);
        var run = ScheduleSimulation.Run(table);
        Assert.Equal(
            [
                new Stall(0, PipelineAction.Backward(0), 1, PipelineAction.Backward(0)),
                new Stall(1, PipelineAction.Forward(1), 0, PipelineAction.Forward(1)),
                new Stall(2, PipelineAction.Forward(1), 1, PipelineAction.Forward(1)),
            ],
            run.Stalls);
    }

    [Fact]
    public void A_deadlocked_run_has_no_cost_and_says_where_it_is_stuck()
    {
        var run = ScheduleSimulation.Run([Row("F0 B0 F1 B1"), Row("F1 F0 B0 B1")]);
        var error = Assert.Throws<InvalidOperationException>(() => run.StepSpanBubble);
        Assert.Contains("stage 1 stuck at F1, waiting for F1 on stage 0", error.Message);
        Assert.Throws<InvalidOperationException>(() => run.Makespan);
        Assert.Throws<InvalidOperationException>(() => run.PeakInFlight);
        Assert.StartsWith("deadlocked: stage 0 stuck at B0", run.ToString());
    }

    [Theory]
    [InlineData("F0 F1 B0", "F0 B0 F1 B1", "stage 0's actions are: F0 F1 B0")]
    [InlineData("F0 F1 B0 B1", "F0 B0 F0 B1", "stage 1's actions are: F0 B0 F0 B1")]
    [InlineData("F0 F1 B0 B1", "F0 B0", "stage 1's actions are: F0 B0")]
    public void A_stage_that_does_not_run_each_micro_batch_once_each_way_is_refused_naming_it(string stage0, string stage1, string named)
    {
        var error = Assert.Throws<ArgumentException>(() => ScheduleSimulation.Run([Row(stage0), Row(stage1)]));
        Assert.Contains(named, error.Message);
    }

    [Fact]
    public void Costs_are_positive_and_one_per_stage()
    {
        var table = PipelineSchedule.Table(ScheduleKind.GPipe, stages: 2, microBatches: 2);
        Assert.Throws<ArgumentException>(() => ScheduleSimulation.Run(table, forwardCost: 0));
        Assert.Throws<ArgumentException>(() => ScheduleSimulation.Run(table, backwardCost: double.PositiveInfinity));
        Assert.Throws<ArgumentException>(() => ScheduleSimulation.Run(table, forwardCosts: [1], backwardCosts: [1, 1]));
    }

    private static IEnumerable<(int Stages, int MicroBatches, IReadOnlyList<IReadOnlyList<PipelineAction>> Table)> Grid(ScheduleKind kind)
    {
        for (int stages = 1; stages <= 6; stages++)
            for (int microBatches = 1; microBatches <= 12; microBatches++)
                yield return (stages, microBatches, PipelineSchedule.Table(kind, stages, microBatches));
    }

    /// <summary>A stage's actions in table notation, "F0 B0 F1 B1".</summary>
    private static IReadOnlyList<PipelineAction> Row(string text) =>
        text.Split(' ').Select(a => a[0] == 'F' ? PipelineAction.Forward(int.Parse(a[1..])) : PipelineAction.Backward(int.Parse(a[1..]))).ToArray();
}
