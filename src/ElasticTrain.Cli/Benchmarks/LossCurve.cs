namespace ElasticTrain.Cli.Benchmarks;

/// <summary>
/// A job's committed losses smoothed by a trailing moving average, for <c>bench ps</c>'s time to a
/// target loss. One step's loss is one batch's and jumps from batch to batch by more than the modes
/// differ; the mean of the last <see cref="Window"/> steps' losses is what a mode must bring down.
/// Steps count from the first one given; a step before <see cref="Window"/> steps exist has no average.
/// </summary>
public sealed class LossCurve
{
    private readonly Queue<double> _last = new();
    private double _sum;

    /// <param name="window">How many of the latest steps' losses each average takes.</param>
    public LossCurve(int window)
    {
        if (window < 1) throw new ArgumentException($"a moving average needs a window of at least 1 step, not {window}", nameof(window));
        Window = window;
    }

    public int Window { get; }

    /// <summary>The mean of the last <see cref="Window"/> losses, or null while fewer have been added.</summary>
    public double? Average => _last.Count == Window ? _sum / Window : null;

    /// <summary>Adds the next committed step's loss; returns the average that ends with it.</summary>
    public double? Add(double loss)
    {
        _last.Enqueue(loss);
        _sum += loss;
        if (_last.Count > Window) _sum -= _last.Dequeue();
        return Average;
    }

    /// <summary>The averages of <paramref name="losses"/>, one per loss: null for the first <paramref name="window"/> - 1.</summary>
    public static IReadOnlyList<double?> Averages(IEnumerable<double> losses, int window)
    {
        var curve = new LossCurve(window);
        return [.. losses.Select(loss => curve.Add(loss))];
    }
}
