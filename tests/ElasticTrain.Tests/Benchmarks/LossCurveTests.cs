using ElasticTrain.Cli.Benchmarks;

namespace ElasticTrain.Tests.Benchmarks;

public class LossCurveTests
{
    [Fact]
    public void Each_average_is_the_mean_of_the_last_window_losses_and_none_before_a_full_window()
    {
        var averages = LossCurve.Averages([4.0, 2.0, 6.0, 1.0, 5.0], window: 3);
        Assert.Equal([null, null, 4.0, 3.0, 4.0], averages);
    }

    [Fact]
    public void A_window_of_one_is_the_losses_themselves()
    {
        Assert.Equal([3.0, 1.0], LossCurve.Averages([3.0, 1.0], window: 1));
    }

    [Fact]
    public void A_window_under_one_step_is_refused()
    {
        Assert.Throws<ArgumentException>(() => new LossCurve(0));
    }
}
