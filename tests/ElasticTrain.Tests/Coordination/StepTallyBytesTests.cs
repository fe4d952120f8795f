using ElasticTrain.Coordination;
using ElasticTrain.Jobs;
using ElasticTrain.Ranks;
using static ElasticTrain.Tests.Support.TestRanks;

namespace ElasticTrain.Tests.Coordination;

/// <summary>The bytes each rank's gradient exchange sent add up to the step's; reports without the field count none.</summary>
public class StepTallyBytesTests
{
    [Fact]
    public void A_steps_bytes_sent_are_the_sum_of_its_ranks_and_an_older_report_counts_zero()
    {
        var tally = new StepTally(new StepPlan(4, [new RankSlice(R("a"), 0, 3), new RankSlice(R("b"), 3, 1), new RankSlice(R("c"), 4, 1)]));
        tally.Add(new StepExchanged(1, 4, R("a"), 6, [1, 2, 3], 10, 4, 1, BytesSent: 1000));
        tally.Add(new StepExchanged(1, 4, R("b"), 2, [9], 20, 5, 7, BytesSent: 24));
        tally.Add(new StepExchanged(1, 4, R("c"), 2, [8], 20, 5, 7)); // a rank of a build before the field
        Assert.Equal(1024, tally.Summarize(globalBatch: 5).BytesSent);
    }
}
