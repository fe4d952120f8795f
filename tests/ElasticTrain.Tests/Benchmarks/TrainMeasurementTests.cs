using ElasticTrain.Cli.Benchmarks;

namespace ElasticTrain.Tests.Benchmarks;

public class TrainMeasurementTests
{
    /// <summary>Steps <paramref name="from"/>.. at <paramref name="world"/>, committed 100 ms apart from <paramref name="startMs"/>, step_ms = step number.</summary>
    private static IEnumerable<BenchStep> Steps(long from, int count, int world, double startMs, double exposedMs = 0) =>
        Enumerable.Range(0, count).Select(i => new BenchStep(from + i, world, startMs + 100 * i, from + i, exposedMs));

    [Fact]
    public void The_window_is_the_first_run_of_steps_at_the_world_less_the_warmup()
    {
        // World 1 for steps 1-3, then world 2 from step 4 on.
        var committed = Steps(1, 3, world: 1, startMs: 0).Concat(Steps(4, 10, world: 2, startMs: 300)).ToList();
        Assert.Null(TrainMeasurement.Window(committed, world: 2, warmup: 2, steps: 11));
        var window = TrainMeasurement.Window(committed, world: 2, warmup: 2, steps: 6)!;
        Assert.Equal([6L, 7, 8, 9], window.Select(s => s.Step));
    }

    [Fact]
    public void A_world_change_or_a_rerun_step_starts_the_run_again()
    {
        var committed = Steps(1, 4, world: 2, startMs: 0)
            .Concat(Steps(5, 1, world: 1, startMs: 400))      // a node left
            .Concat(Steps(6, 3, world: 2, startMs: 500))
            .Concat(Steps(8, 5, world: 2, startMs: 800))      // step 8 again, after a failure
            .ToList();
        var window = TrainMeasurement.Window(committed, world: 2, warmup: 1, steps: 5)!;
        Assert.Equal([9L, 10, 11, 12], window.Select(s => s.Step));
    }

    [Fact]
    public void The_summary_is_the_rate_between_first_and_last_commit_the_median_step_the_mean_exposure_and_bytes_per_rank()
    {
        BenchStep[] window =
        [
            new(10, 2, 1_000, 400, 10, 2_000), new(11, 2, 1_500, 100, 20, 2_000), new(12, 2, 2_000, 300, 30, 4_000), new(13, 2, 3_000, 200, 60, 4_000),
        ];
        var result = TrainMeasurement.Of(window, nodes: 2, globalBatch: 16);
        Assert.Equal(16 * 3 / 2.0, result.SamplesPerSecond, 9);
        Assert.Equal(250, result.StepMs, 9);
        Assert.Equal(30, result.CommExposedMs, 9);
        Assert.Equal(1_500, result.BytesPerRank, 9); // (2000 + 2000 + 4000 + 4000) / 4 steps / 2 ranks
        Assert.Equal("train nodes=2 samples_per_s=24.0 step_ms=250.00 comm_exposed_ms=30.00 bytes_per_rank=1500", result.Line);
        Assert.Equal(300, TrainMeasurement.Of(window[..3], nodes: 2, globalBatch: 16).StepMs, 9);
    }

    [Fact]
    public void Step_records_are_read_from_metrics_lines_with_exposure_bytes_loss_and_staleness_optional()
    {
        Assert.Equal(new BenchStep(7, 2, 1_700_000_000_123, 612.5, 0, Loss: 3.1),
            BenchStep.FromMetricsLine("""{"type":"step","step":7,"loss":3.1,"world":2,"generation":3,"time_ms":1700000000123,"step_ms":612.5,"exchange_ms":40.25}"""));
        Assert.Equal(12.5, BenchStep.FromMetricsLine("""{"type":"step","step":7,"world":2,"time_ms":1,"step_ms":2,"exposed_ms":12.5}""")!.Value.ExposedMs);
        Assert.Equal(26_589_936, BenchStep.FromMetricsLine("""{"type":"step","step":7,"world":2,"time_ms":1,"step_ms":2,"bytes_sent":26589936}""")!.Value.BytesSent);
        Assert.Equal(2, BenchStep.FromMetricsLine("""{"type":"step","step":7,"world":2,"time_ms":1,"step_ms":2,"staleness":2}""")!.Value.Staleness);
        Assert.Null(BenchStep.FromMetricsLine("""{"type":"step","step":7,"world":2,"time_ms":1,"step_ms":2,"staleness":null}""")!.Value.Staleness);
        Assert.True(double.IsNaN(BenchStep.FromMetricsLine("""{"type":"step","step":7,"world":2,"time_ms":1,"step_ms":2}""")!.Value.Loss));
        Assert.Null(BenchStep.FromMetricsLine("""{"type":"checkpoint","step":50,"path":"x","generation":1,"time_ms":1}"""));
        Assert.Null(BenchStep.FromMetricsLine("""{"type":"step","step":7,"wor"""));
    }
}
