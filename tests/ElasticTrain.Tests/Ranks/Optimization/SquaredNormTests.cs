using ElasticTrain.Ranks.Optimization;

namespace ElasticTrain.Tests.Ranks.Optimization;

public class SquaredNormTests
{
    /// <summary>Lengths around the sixteen values a round takes, and one with a long tail of rounds.</summary>
    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(8)]
    [InlineData(15)]
    [InlineData(16)]
    [InlineData(17)]
    [InlineData(40)]
    [InlineData(1_000_003)]
    public void The_sum_of_squares_is_the_float64_sum_of_every_values_square(int length)
    {
        var random = new Random(length);
        var values = Enumerable.Range(0, length).Select(_ => (float)(random.NextDouble() * 2 - 1) * 1e3f).ToArray();
        double expected = 0;
        foreach (var v in values) expected += (double)v * v;
        Assert.Equal(expected, SquaredNorm.Of(values), Math.Max(expected * 1e-12, 0));
    }

    [Fact]
    public void An_overflow_anywhere_is_not_finite()
    {
        var values = new float[100];
        values[57] = float.PositiveInfinity;
        Assert.False(double.IsFinite(SquaredNorm.Of(values)));
        values[57] = float.NaN;
        Assert.False(double.IsFinite(SquaredNorm.Of(values)));
    }
}
