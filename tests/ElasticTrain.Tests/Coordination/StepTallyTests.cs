using ElasticTrain.Coordination;
using ElasticTrain.Jobs;
using ElasticTrain.Ranks;
using static ElasticTrain.Tests.Support.TestRanks;

namespace ElasticTrain.Tests.Coordination;

public class StepTallyTests
{
    private static readonly StepPlan Plan = new(4, [new RankSlice(R("a"), 0, 3), new RankSlice(R("b"), 3, 1)]);

    [Fact]
    public void A_step_completes_with_one_report_per_rank_and_sums_the_loss_over_the_global_batch()
    {
        var tally = new StepTally(Plan);
        Assert.False(tally.Add(new StepExchanged(1, 3, R("a"), 6, [1, 2, 3], 10, 4, 1))); // another step
        Assert.False(tally.Add(new StepExchanged(1, 4, R("c"), 6, [1, 2, 3], 10, 4, 1))); // not in the plan
        Assert.True(tally.Add(new StepExchanged(1, 4, R("a"), 6, [1, 2, 3], 10, 4, 1)));
        Assert.True(tally.Add(new StepExchanged(1, 4, R("a"), 6, [1, 2, 3], 10, 4, 1))); // a duplicate counts once
        Assert.False(tally.Complete);
        Assert.Throws<InvalidOperationException>(() => tally.Summarize(4));
        tally.Add(new StepExchanged(1, 4, R("b"), 2, [9], 20, 5, 7));
        Assert.True(tally.Complete);

        var summary = tally.Summarize(globalBatch: 4);
        Assert.Equal((4L, 2.0, 2), (summary.Step, summary.Loss, summary.World));
        Assert.Equal((20.0, 5.0, 1.0, 7.0), (summary.MaxComputeMs, summary.MaxExchangeMs, summary.ExposedMs, summary.MaxWaitMs));
        Assert.Equal([R("a"), R("b")], summary.Samples.Select(s => s.Rank));
        Assert.Equal([9], summary.Samples[1].SampleIds);
    }

    [Fact]
    public void Throughput_is_samples_per_second_over_the_recent_commits()
    {
        var throughput = new Throughput(window: 3);
        Assert.Equal(0, throughput.SamplesPerSecond(16));
        throughput.Committed(1, 0);
        throughput.Committed(2, 1000);
        throughput.Committed(3, 2000);
        throughput.Committed(4, 2500); // step 1 falls out of the window
        Assert.Equal(2 * 16 / 1.5, throughput.SamplesPerSecond(16), 6);
    }
}
