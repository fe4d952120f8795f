using ElasticTrain.Jobs;

namespace ElasticTrain.Tests.Jobs;

public class StagePartitionTests
{
    [Fact]
    public void Stages_hold_contiguous_ranges_that_cover_every_layer_once()
    {
        var partition = new StagePartition(6, [0, 1, 4]);
        Assert.Equal(3, partition.Stages);
        Assert.Equal([(0, 1), (1, 4), (4, 6)], Enumerable.Range(0, 3).Select(s => (partition.FirstLayer(s), partition.EndLayer(s))));
        Assert.Equal([0, 1, 1, 1, 2, 2], Enumerable.Range(0, 6).Select(partition.StageOf));
        Assert.Equal("[0,1) [1,4) [4,6)", partition.ToString());
    }

    [Theory]
    [InlineData(4, new int[0], "at least one stage")]
    [InlineData(4, new[] { 1, 2 }, "must start at layer 0")]
    [InlineData(4, new[] { 0, 2, 2 }, "at least one layer")]
    [InlineData(4, new[] { 0, 3, 1 }, "at least one layer")]
    [InlineData(4, new[] { 0, 4 }, "past the last")]
    [InlineData(2, new[] { 0, 1, 2 }, "cannot each hold a layer")]
    public void Partitions_that_leave_a_layer_out_or_a_stage_empty_are_rejected(int layers, int[] firstLayers, string reason)
    {
        var e = Assert.Throws<ArgumentException>(() => new StagePartition(layers, firstLayers));
        Assert.Contains(reason, e.Message);
    }

    [Fact]
    public void Stage_and_layer_numbers_outside_the_partition_are_rejected()
    {
        var partition = new StagePartition(3, [0, 2]);
        Assert.Throws<ArgumentOutOfRangeException>(() => partition.FirstLayer(2));
        Assert.Throws<ArgumentOutOfRangeException>(() => partition.EndLayer(-1));
        Assert.Throws<ArgumentOutOfRangeException>(() => partition.StageOf(3));
    }

    [Fact]
    public void Partitions_are_equal_when_their_ranges_are()
    {
        Assert.Equal(new StagePartition(5, [0, 2]), new StagePartition(5, [0, 2]));
        Assert.Equal(new StagePartition(5, [0, 2]).GetHashCode(), new StagePartition(5, [0, 2]).GetHashCode());
        Assert.NotEqual(new StagePartition(5, [0, 2]), new StagePartition(5, [0, 3]));
        Assert.NotEqual(new StagePartition(5, [0, 2]), new StagePartition(6, [0, 2]));
    }

    [Theory]
    [InlineData(new double[] { 1, 1, 1, 1, 1, 1 }, 3, "[0,2) [2,4) [4,6)")]
    [InlineData(new double[] { 1, 1, 1, 1, 1 }, 2, "[0,2) [2,5)")] // a tie: the earlier stage gets fewer layers
    [InlineData(new double[] { 9, 1, 1, 1, 1, 1, 1, 1, 1, 1 }, 2, "[0,1) [1,10)")]
    [InlineData(new double[] { 1, 2, 3, 4, 5, 6, 7, 8, 9 }, 3, "[0,5) [5,7) [7,9)")]
    [InlineData(new double[] { 0.5, 4, 4, 4, 4, 0.25 }, 4, "[0,2) [2,3) [3,4) [4,6)")] // light embeddings and head ride along
    [InlineData(new double[] { 5, 0, 0, 0 }, 4, "[0,1) [1,2) [2,3) [3,4)")]
    [InlineData(new double[] { 3, 1, 4, 1, 5 }, 1, "[0,5)")]
    public void Balanced_minimizes_the_costliest_stage(double[] costs, int stages, string expected)
    {
        var partition = StagePartition.Balanced(costs, stages);
        Assert.Equal(expected, partition.ToString());
        Assert.Equal(BruteForceOptimum(costs, stages), partition.StageCosts(costs).Max());
    }

    [Fact]
    public void Balanced_matches_an_exhaustive_search_on_random_costs()
    {
        var random = new Random(11);
        for (int trial = 0; trial < 200; trial++)
        {
            int layers = random.Next(1, 10);
            int stages = random.Next(1, layers + 1);
            var costs = Enumerable.Range(0, layers).Select(_ => (double)random.Next(0, 20)).ToArray();
            var partition = StagePartition.Balanced(costs, stages);
            Assert.Equal(stages, partition.Stages);
            Assert.Equal(layers, partition.Layers);
            Assert.Equal(BruteForceOptimum(costs, stages), partition.StageCosts(costs).Max());
        }
    }

    [Fact]
    public void Balanced_rejects_more_stages_than_layers_and_costs_that_are_not_finite_or_negative()
    {
        Assert.Contains("into 3 stages", Assert.Throws<ArgumentException>(() => StagePartition.Balanced([1, 1], 3)).Message);
        Assert.Contains("into 0 stages", Assert.Throws<ArgumentException>(() => StagePartition.Balanced([1, 1], 0)).Message);
        Assert.Contains("Layer 1", Assert.Throws<ArgumentException>(() => StagePartition.Balanced([1, -1], 1)).Message);
        Assert.Contains("Layer 0", Assert.Throws<ArgumentException>(() => StagePartition.Balanced([double.NaN, 1], 1)).Message);
        Assert.Contains("each of 3 layers", Assert.Throws<ArgumentException>(() => new StagePartition(3, [0]).StageCosts([1, 1])).Message);
    }

    /// <summary>The least possible costliest stage, by trying every set of boundaries.</summary>
    private static double BruteForceOptimum(double[] costs, int stages)
    {
        double best = double.PositiveInfinity;
        void Search(int start, int stagesLeft, double worst)
        {
            if (stagesLeft == 1)
            {
                best = Math.Min(best, Math.Max(worst, costs[start..].Sum()));
                return;
            }
            for (int end = start + 1; end <= costs.Length - (stagesLeft - 1); end++)
                Search(end, stagesLeft - 1, Math.Max(worst, costs[start..end].Sum()));
        }
        Search(0, stages, 0);
        return best;
    }
}
