namespace ElasticTrain.Measurement;

/// <summary>The middle of a set of measurements: one outlier (a cold step, a noisy neighbour) does not move it.</summary>
public static class Median
{
    /// <summary>The middle value, or the mean of the two middle values of an even count.</summary>
    /// <exception cref="ArgumentException">No values.</exception>
    public static double Of(IEnumerable<double> values)
    {
        var sorted = values.Order().ToList();
        if (sorted.Count == 0) throw new ArgumentException("the median of no values", nameof(values));
        return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]) / 2;
    }
}
