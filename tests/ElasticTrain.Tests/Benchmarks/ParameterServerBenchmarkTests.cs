using ElasticTrain.Cli;
using ElasticTrain.Cli.Benchmarks;

namespace ElasticTrain.Tests.Benchmarks;

public class ParameterServerBenchmarkTests
{
    /// <summary>Steps 1.. with these losses, committed 500 ms apart, at world 1 for the first <paramref name="alone"/> and 3 after.</summary>
    private static List<BenchStep> Steps(double[] losses, int alone = 0, long?[]? staleness = null) =>
        [.. losses.Select((loss, i) => new BenchStep(i + 1, i < alone ? 1 : 3, 500.0 * i, 10, 0, Loss: loss, Staleness: staleness?[i]))];

    [Fact]
    public void The_target_is_reached_at_the_first_step_whose_moving_average_is_at_or_below_it_timed_from_the_first_step_at_the_full_world()
    {
        // Averages over 2 steps: -, 4.5, 3.5, 2.5, 1.5: step 4's reaches 2.5.
        var run = ParameterServerBenchmark.ToTarget(Steps([5, 4, 3, 2, 1], alone: 1), world: 3, window: 2, target: 2.5);
        Assert.Equal(2, run.FromStep);
        Assert.Equal(4, run.ReachedStep);
        Assert.Equal(1.0, run.Seconds);        // steps 2 to 4: 2 x 500 ms
        Assert.Equal(2.0, run.StepsPerSecond);
        Assert.Null(run.MaxStaleness);
    }

    [Fact]
    public void One_low_loss_does_not_reach_the_target_while_the_average_is_above_it()
    {
        var run = ParameterServerBenchmark.ToTarget(Steps([5, 1, 5, 5]), world: 3, window: 2, target: 2.5);
        Assert.Null(run.ReachedStep);
        Assert.Equal(1.5, run.Seconds);        // to the last step
    }

    [Fact]
    public void The_max_staleness_is_over_the_steps_up_to_the_reached_one()
    {
        var run = ParameterServerBenchmark.ToTarget(Steps([3, 2, 1, 9], staleness: [0, 2, 1, 4]), world: 3, window: 1, target: 1);
        Assert.Equal(3, run.ReachedStep);
        Assert.Equal(2, run.MaxStaleness);
    }

    [Fact]
    public void A_run_without_a_step_at_the_full_world_has_no_time_to_target()
    {
        Assert.Throws<BenchmarkException>(() => ParameterServerBenchmark.ToTarget(Steps([3, 2], alone: 2), world: 3, window: 1, target: 1));
    }

    [Fact]
    public void The_average_at_a_step_needs_the_step_and_a_full_window()
    {
        var committed = Steps([4, 2, 6]);
        Assert.Equal(4.0, ParameterServerBenchmark.AverageAt(committed, step: 3, window: 2));
        Assert.Null(ParameterServerBenchmark.AverageAt(committed, step: 1, window: 2));
        Assert.Null(ParameterServerBenchmark.AverageAt(committed, step: 4, window: 2));
    }

    /// <summary>Bad input: one error line and exit code 2, before any process starts.</summary>
    [Theory]
    [InlineData(new[] { "--window", "0" }, "error: --window must be at least 1, not 0")]
    [InlineData(new[] { "--target-step", "5" }, "error: --target-step must be at least --window (10) to have a mean loss, not 5")]
    [InlineData(new[] { "--max-steps", "100" }, "error: --max-steps must be at least --target-step (300), not 100")]
    [InlineData(new[] { "--rate-steps", "11" }, "error: --rate-steps must be at least --warmup + 2 (12) to measure a rate, not 11")]
    [InlineData(new[] { "--slowdown", "0.5" }, "error: --slowdown must be at least 1, not 0.5")]
    [InlineData(new[] { "--global-batch", "2" }, "error: --global-batch must be at least 3: every rank needs a sample per step, not 2")]
    public async Task Bad_input_is_one_error_line_and_exit_code_2(string[] args, string expected)
    {
        var error = new StringWriter();
        Assert.Equal(2, await CliApp.RunAsync(["bench", "ps", .. args], error));
        Assert.Equal(expected, error.ToString().Trim());
    }
}
