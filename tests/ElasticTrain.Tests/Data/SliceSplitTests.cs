using ElasticTrain.Data;
namespace ElasticTrain.Tests.Data;

public class SliceSplitTests
{
    [Theory]
    [InlineData(10, 1)]
    [InlineData(10, 3)]
    [InlineData(10, 4)]
    [InlineData(7, 7)]
    [InlineData(64, 5)]
    public void Even_slices_are_contiguous_cover_the_batch_and_differ_by_at_most_one_larger_first(int batch, int parts)
    {
        var slices = SliceSplit.Even(batch, parts);

        Assert.Equal(parts, slices.Count);
        AssertContiguousCover(batch, slices);
        Assert.True(slices.Max(s => s.Count) - slices.Min(s => s.Count) <= 1);
        Assert.Equal(slices.Select(s => s.Count).OrderByDescending(c => c), slices.Select(s => s.Count));
    }

    [Fact]
    public void Even_split_of_ten_into_four_is_three_three_two_two()
    {
        Assert.Equal([(0, 3), (3, 3), (6, 2), (8, 2)], SliceSplit.Even(10, 4));
    }

    [Fact]
    public void Weighted_slices_are_proportional_to_the_weights()
    {
        Assert.Equal([(0, 25), (25, 25), (50, 50)], SliceSplit.Weighted(100, [1.0, 1.0, 2.0]));
        Assert.Equal([(0, 30), (30, 70)], SliceSplit.Weighted(100, [0.3, 0.7]));
    }

    [Fact]
    public void Weighted_remainders_go_to_the_largest_fractions_and_ties_to_the_lower_index()
    {
        // Quotas 3.33 each: one seat left, tied, so part 0 takes it.
        Assert.Equal([(0, 4), (4, 3), (7, 3)], SliceSplit.Weighted(10, [1.0, 1.0, 1.0]));

        // Quotas 2.6, 3.9, 3.5: floors 2+3+3 = 8, the two seats left go to .9 then .6.
        Assert.Equal([(0, 3), (3, 4), (7, 3)], SliceSplit.Weighted(10, [2.6, 3.9, 3.5]));
    }

    [Fact]
    public void Weighted_gives_every_positive_weight_at_least_one_sample()
    {
        Assert.Equal([(0, 8), (8, 1), (9, 1)], SliceSplit.Weighted(10, [1000.0, 1.0, 1.0]));
        Assert.Equal([(0, 1), (1, 1), (2, 1)], SliceSplit.Weighted(3, [1e-9, 1.0, 1e-9]));
    }

    [Fact]
    public void Weighted_gives_a_zero_weight_nothing()
    {
        Assert.Equal([(0, 5), (5, 0), (5, 5)], SliceSplit.Weighted(10, [1.0, 0.0, 1.0]));
    }

    [Fact]
    public void Weighted_slices_always_sum_to_the_batch()
    {
        var random = new Random(1234);
        for (int trial = 0; trial < 500; trial++)
        {
            int parts = random.Next(1, 9);
            int batch = random.Next(parts, 300);
            var weights = Enumerable.Range(0, parts).Select(_ => random.NextDouble() * Math.Pow(10, random.Next(-6, 7))).ToArray();
            var slices = SliceSplit.Weighted(batch, weights);
            AssertContiguousCover(batch, slices);
            Assert.All(slices, s => Assert.True(s.Count >= 1));
        }
    }

    [Fact]
    public void Impossible_splits_are_argument_errors()
    {
        Assert.Throws<ArgumentException>(() => SliceSplit.Even(10, 0));
        Assert.Throws<ArgumentException>(() => SliceSplit.Even(3, 4));
        Assert.Throws<ArgumentException>(() => SliceSplit.Weighted(10, []));
        Assert.Throws<ArgumentException>(() => SliceSplit.Weighted(1, [1.0, 1.0]));
        Assert.Throws<ArgumentException>(() => SliceSplit.Weighted(10, [0.0, 0.0]));
        Assert.Throws<ArgumentException>(() => SliceSplit.Weighted(10, [1.0, -1.0]));
        Assert.Throws<ArgumentException>(() => SliceSplit.Weighted(10, [1.0, double.NaN]));
        Assert.Throws<ArgumentException>(() => SliceSplit.Weighted(10, [1.0, double.PositiveInfinity]));
    }

    public static TheoryData<string> Splits() => new() { "even1", "even2", "even3", "even4", "even5", "weighted", "weighted-with-zero" };

    [Theory]
    [MemberData(nameof(Splits))]
    public void The_slices_of_a_step_concatenate_to_exactly_the_step(string split)
    {
        const int batch = 24;
        var schedule = new EpochSchedule(seed: 99, sampleCount: 1000, globalBatch: batch);
        var slices = split switch
        {
            "weighted" => SliceSplit.Weighted(batch, [3.0, 1.0, 2.5, 0.4]),
            "weighted-with-zero" => SliceSplit.Weighted(batch, [1.0, 0.0, 2.0]),
            _ => SliceSplit.Even(batch, int.Parse(split["even".Length..], System.Globalization.CultureInfo.InvariantCulture)),
        };

        foreach (long step in new long[] { 0, 1, schedule.StepsPerEpoch - 1, schedule.StepsPerEpoch, 1000 })
        {
            var joined = slices.SelectMany(s => schedule.SampleIds(step, s.Offset, s.Count)).ToArray();
            Assert.Equal(schedule.StepSampleIds(step), joined);
        }
    }

    private static void AssertContiguousCover(int batch, IReadOnlyList<(int Offset, int Count)> slices)
    {
        int next = 0;
        foreach (var (offset, count) in slices)
        {
            Assert.Equal(next, offset);
            Assert.True(count >= 0);
            next += count;
        }

        Assert.Equal(batch, next);
    }
}
