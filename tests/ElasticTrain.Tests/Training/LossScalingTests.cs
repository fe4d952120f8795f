using ElasticTrain.Training;

namespace ElasticTrain.Tests.Training;

/// <summary>The loss scale of a step as a pure function of the overflows before it, with PyTorch GradScaler's rule.</summary>
public class LossScalingTests
{
    private static readonly LossScaling Scaling = new(Initial: 1024, GrowthInterval: 3);

    [Fact]
    public void Without_overflows_the_scale_doubles_after_every_growth_interval_of_clean_steps()
    {
        // Steps 1-3 run at 1024; after 3 clean steps, steps 4-6 at 2048; then 4096.
        Assert.Equal([1024, 1024, 1024, 2048, 2048, 2048, 4096], Enumerable.Range(1, 7).Select(k => Scaling.ScaleAt(k, [])));
    }

    [Fact]
    public void An_overflow_halves_the_next_steps_scale_and_restarts_the_count_of_clean_steps()
    {
        long[] overflows = [2, 3];
        // Step 2 overflows at 1024: step 3 at 512, overflows: step 4 at 256, then 3 clean steps (4, 5, 6) before 512 at step 7.
        Assert.Equal([1024, 1024, 512, 256, 256, 256, 512], Enumerable.Range(1, 7).Select(k => Scaling.ScaleAt(k, overflows)));
        // Overflows after the step do not count, and their order does not matter.
        Assert.Equal(Scaling.ScaleAt(5, [3, 2]), Scaling.ScaleAt(5, [2, 3, 9, 3]));
    }

    [Fact]
    public void A_step_far_along_folds_the_clean_runs_without_walking_every_step()
    {
        var scaling = new LossScaling();
        Assert.Equal(65536.0 * 2 * 2 * 0.5, scaling.ScaleAt(4002, [4001]));
        Assert.Equal(65536.0 * Math.Pow(2, 500), scaling.ScaleAt(1_000_001, []));
    }
}
