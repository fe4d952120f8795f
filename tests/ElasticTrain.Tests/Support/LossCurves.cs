namespace ElasticTrain.Tests;

public static class LossCurves
{
    /// <summary>Asserts two curves have the same steps and per-step losses within a relative tolerance.</summary>
    public static void AssertEquivalent(IReadOnlyDictionary<long, double> expected, IReadOnlyDictionary<long, double> actual, double relative)
    {
        Assert.Equal(expected.Keys.Order(), actual.Keys.Order());
        foreach (var (step, loss) in expected)
        {
            var error = Math.Abs(actual[step] - loss) / Math.Abs(loss);
            Assert.True(error <= relative, $"step {step}: {actual[step]:R} vs {loss:R} (relative error {error:E2} > {relative:E0})");
        }
    }
}
