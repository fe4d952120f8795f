using ElasticTrain.Coordination;
using ElasticTrain.Jobs;

namespace ElasticTrain.Tests.Coordination;

public sealed class LayerCostsTests
{
    // Four layers the shape says cost alike.
    private static readonly ModelProfile Even = new([1, 1, 1, 1], [0, 0, 0, 0], [0, 0, 0, 0]);

    [Fact]
    public void Before_any_step_the_costs_are_the_estimate()
    {
        var costs = new LayerCosts(Even);
        Assert.False(costs.Calibrated);
        Assert.Equal([1.0, 1, 1, 1], costs.Profile.CostPerSample);
    }

    [Fact]
    public void A_stage_measured_slower_makes_its_layers_costlier_in_the_estimates_proportions()
    {
        var costs = new LayerCosts(Even);
        costs.Measure(new StagePartition(4, [0, 2]), [2.0, 6.0]); // stage 1 takes three times as long
        Assert.Equal([1.0, 1, 3, 3], costs.Profile.CostPerSample);
        // Balanced on the measured costs, the slow layers get a stage each... as far as the partition allows.
        Assert.Equal(new StagePartition(4, [0, 3]), StagePartition.Balanced(costs.Profile.CostPerSample, 2));
    }

    [Fact]
    public void Later_steps_move_the_costs_a_fifth_of_the_way_and_a_bad_timing_is_ignored()
    {
        var costs = new LayerCosts(Even);
        var partition = new StagePartition(4, [0, 2]);
        costs.Measure(partition, [2.0, 2.0]);
        costs.Measure(partition, [12.0, 2.0]);
        Assert.Equal([2.0, 2.0, 1.0, 1.0], costs.Profile.CostPerSample);
        costs.Measure(partition, [double.NaN, 2.0]);
        Assert.Equal(2, costs.Measured);
        costs.Restart();
        Assert.Equal(0, costs.Measured);
        Assert.True(costs.Calibrated);
    }
}
