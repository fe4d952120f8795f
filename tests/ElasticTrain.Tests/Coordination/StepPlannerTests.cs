using ElasticTrain.Coordination;
using ElasticTrain.Jobs;
using static ElasticTrain.Tests.Support.TestRanks;

namespace ElasticTrain.Tests.Coordination;

public class StepPlannerTests
{
    [Fact]
    public void Slices_cover_the_global_batch_exactly_once_in_ring_order()
    {
        var plan = StepPlanner.Plan(7, [R("b/r1"), R("a/r0"), R("c/r2")], globalBatch: 10);
        Assert.Equal(7, plan.Step);
        Assert.Equal([R("a/r0"), R("b/r1"), R("c/r2")], plan.Slices.Select(s => s.Rank));
        Assert.Equal([(0, 4), (4, 3), (7, 3)], plan.Slices.Select(s => (s.Offset, s.Count)));
    }

    [Fact]
    public void Every_member_derives_the_same_plan_whatever_order_it_lists_ranks_in()
    {
        var a = StepPlanner.Plan(1, [R("x"), R("y"), R("z")], 16);
        var b = StepPlanner.Plan(1, [R("z"), R("x"), R("y")], 16);
        Assert.Equal(a.Slices, b.Slices);
    }

    [Fact]
    public void A_slow_rank_gets_fewer_samples_and_the_batch_is_still_covered_exactly_once()
    {
        var speeds = new Dictionary<RankId, double> { [R("a")] = 300, [R("b")] = 100 };
        var plan = StepPlanner.Plan(1, [R("a"), R("b")], globalBatch: 16, speeds);
        Assert.Equal([(0, 12), (12, 4)], plan.Slices.Select(s => (s.Offset, s.Count)));
    }

    [Fact]
    public void Until_every_rank_has_been_measured_slices_are_even()
    {
        var speeds = new Dictionary<RankId, double> { [R("a")] = 300 };
        var plan = StepPlanner.Plan(1, [R("a"), R("b")], globalBatch: 16, speeds);
        Assert.Equal([8, 8], plan.Slices.Select(s => s.Count));
    }

    [Fact]
    public void A_plan_needs_a_rank() =>
        Assert.Throws<ArgumentException>(() => StepPlanner.Plan(1, [], 16));
}
