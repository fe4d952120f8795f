using ElasticTrain.Coordination;

namespace ElasticTrain.Tests.Coordination;

public class StepPlannerTests
{
    [Fact]
    public void Slices_cover_the_global_batch_exactly_once_in_ring_order()
    {
        var plan = StepPlanner.Plan(7, ["b/r1", "a/r0", "c/r2"], globalBatch: 10);
        Assert.Equal(7, plan.Step);
        Assert.Equal(["a/r0", "b/r1", "c/r2"], plan.Slices.Select(s => s.Rank));
        Assert.Equal([(0, 4), (4, 3), (7, 3)], plan.Slices.Select(s => (s.Offset, s.Count)));
    }

    [Fact]
    public void Every_member_derives_the_same_plan_whatever_order_it_lists_ranks_in()
    {
        var a = StepPlanner.Plan(1, ["x", "y", "z"], 16);
        var b = StepPlanner.Plan(1, ["z", "x", "y"], 16);
        Assert.Equal(a.Slices, b.Slices);
    }

    [Fact]
    public void A_slow_rank_gets_fewer_samples_and_the_batch_is_still_covered_exactly_once()
    {
        var speeds = new Dictionary<string, double> { ["a"] = 300, ["b"] = 100 };
        var plan = StepPlanner.Plan(1, ["a", "b"], globalBatch: 16, speeds);
        Assert.Equal([(0, 12), (12, 4)], plan.Slices.Select(s => (s.Offset, s.Count)));
    }

    [Fact]
    public void Until_every_rank_has_been_measured_slices_are_even()
    {
        var speeds = new Dictionary<string, double> { ["a"] = 300 };
        var plan = StepPlanner.Plan(1, ["a", "b"], globalBatch: 16, speeds);
        Assert.Equal([8, 8], plan.Slices.Select(s => s.Count));
    }

    [Fact]
    public void A_plan_needs_a_rank() =>
        Assert.Throws<ArgumentException>(() => StepPlanner.Plan(1, [], 16));
}
