using ElasticTrain.Ranks.ParameterServer;
using static ElasticTrain.Tests.Support.TestRanks;

namespace ElasticTrain.Tests.Ranks.ParameterServer;

public class ShardStepTallyTests
{
    [Fact]
    public void A_step_is_complete_once_planned_and_every_planned_worker_has_pushed_in_any_order()
    {
        var tally = ShardStepTally.Open(3);
        (tally, var verdict) = tally.Push(3, R("n/r1"), 5);
        Assert.Equal(PushVerdict.Counted, verdict);
        Assert.False(tally.Complete); // no plan yet: a push may overtake it
        tally = tally.Expect([R("n/r0"), R("n/r1")], 8);
        Assert.False(tally.Complete);
        (tally, _) = tally.Push(3, R("n/r0"), 3);
        Assert.True(tally.Complete);
        Assert.Null(tally.Problem);
    }

    [Fact]
    public void A_repeated_push_and_one_of_an_applied_step_count_nothing_and_one_of_a_later_step_is_ahead()
    {
        var (tally, _) = ShardStepTally.Open(3).Expect([R("n/r0"), R("n/r1")], 8).Push(3, R("n/r0"), 3);
        var (again, verdict) = tally.Push(3, R("n/r0"), 3);
        Assert.Equal(PushVerdict.Repeated, verdict);
        Assert.Same(tally, again);
        Assert.Equal(PushVerdict.Repeated, tally.Push(2, R("n/r1"), 5).Verdict);
        Assert.Equal(PushVerdict.Ahead, tally.Push(4, R("n/r1"), 5).Verdict);
        Assert.False(tally.Complete);
    }

    [Fact]
    public void Slices_that_do_not_fit_the_plan_are_a_problem()
    {
        var planned = ShardStepTally.Open(1).Expect([R("n/r0"), R("n/r1")], 8);
        Assert.Contains("does not name it", planned.Push(1, R("m/r0"), 4).Tally.Problem);
        var (short1, _) = planned.Push(1, R("n/r0"), 3);
        Assert.Null(short1.Problem); // not complete: more may come
        Assert.Contains("hold 7 samples, not the global batch of 8", short1.Push(1, R("n/r1"), 4).Tally.Problem);
        // A stranger that pushed before the plan is found when the plan comes.
        Assert.Contains("does not name it", ShardStepTally.Open(1).Push(1, R("m/r0"), 4).Tally.Expect([R("n/r0")], 4).Problem);
    }

    [Fact]
    public void The_same_plan_twice_is_taken_and_another_refused()
    {
        var planned = ShardStepTally.Open(1).Expect([R("n/r0"), R("n/r1")], 8);
        Assert.Equal(planned.Expected, planned.Expect([R("n/r1"), R("n/r0")], 8).Expected);
        Assert.Throws<ArgumentException>(() => planned.Expect([R("n/r0")], 8));
        Assert.Throws<ArgumentException>(() => planned.Expect([R("n/r0"), R("n/r1")], 9));
        Assert.Throws<ArgumentException>(() => ShardStepTally.Open(1).Expect([], 8));
    }
}
