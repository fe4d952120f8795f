using ElasticTrain.Data;

namespace ElasticTrain.Tests.Evaluation;

/// <summary>The held-out windows: a pure function of (seed, windows, fraction), apart from training, and nothing when off.</summary>
public sealed class HeldOutSplitTests
{
    [Fact]
    public void The_split_is_the_same_for_the_same_seed_windows_and_fraction_and_another_for_another_seed()
    {
        var a = HeldOutSplit.Of(7, 5000, 0.02);
        var b = HeldOutSplit.Of(7, 5000, 0.02);
        Assert.Equal(a.HeldOut, b.HeldOut);
        Assert.Equal(a.Training, b.Training);
        Assert.NotEqual(a.HeldOut, HeldOutSplit.Of(8, 5000, 0.02).HeldOut);
    }

    [Fact]
    public void Held_out_and_training_windows_are_disjoint_and_together_all_windows()
    {
        var split = HeldOutSplit.Of(1, 2114, 0.01);
        Assert.Empty(split.HeldOut.Intersect(split.Training!));
        Assert.Equal(Enumerable.Range(0, 2114), split.HeldOut.Concat(split.Training!).Order());
        Assert.Equal(split.HeldOut.Order(), split.HeldOut);
    }

    [Theory]
    [InlineData(2114, 0.01, 21)]
    [InlineData(10_000, 0.02, 200)]
    [InlineData(1_000_000, 0.01, HeldOutSplit.MaxWindows)] // capped: an evaluation costs a few steps
    [InlineData(50, 0.001, 1)]                              // at least one window
    public void The_requested_fraction_is_held_out_within_the_cap(int windows, double fraction, int expected)
    {
        Assert.Equal(expected, HeldOutSplit.Of(3, windows, fraction).HeldOut.Count);
        Assert.Equal(expected, HeldOutSplit.CountFor(windows, fraction));
    }

    [Fact]
    public void The_held_out_windows_spread_over_the_corpus_rather_than_one_end()
    {
        var held = HeldOutSplit.Of(1, 100_000, 0.002).HeldOut;
        Assert.True(held.Count(id => id < 50_000) is > 60 and < 140, $"{held.Count(id => id < 50_000)} of 200 in the first half");
    }

    [Fact]
    public void Nothing_is_held_out_when_evaluation_is_off()
    {
        var none = HeldOutSplit.None(2114);
        Assert.Empty(none.HeldOut);
        Assert.Null(none.Training);
    }

    [Fact]
    public void A_schedule_over_every_window_given_as_ids_is_the_schedule_over_the_count_bit_for_bit()
    {
        var all = new EpochSchedule(42, 1000, 16);
        var ids = new EpochSchedule(42, Enumerable.Range(0, 1000).ToArray(), 16);
        for (var epoch = 0; epoch < 3; epoch++) Assert.Equal(all.EpochPermutation(epoch), ids.EpochPermutation(epoch));
    }

    [Fact]
    public void A_schedule_over_the_training_windows_permutes_them_only_and_every_epoch_anew()
    {
        var split = HeldOutSplit.Of(5, 1000, 0.05);
        var schedule = new EpochSchedule(5, split.Training!, 10);
        Assert.Equal(950 / 10, schedule.StepsPerEpoch);
        var first = schedule.EpochPermutation(0);
        Assert.Equal(split.Training!, first.Order());
        Assert.NotEqual(first, schedule.EpochPermutation(1));
        var read = Enumerable.Range(0, schedule.StepsPerEpoch).SelectMany(s => schedule.StepSampleIds(s)).ToHashSet();
        Assert.Empty(read.Intersect(split.HeldOut));
    }
}
