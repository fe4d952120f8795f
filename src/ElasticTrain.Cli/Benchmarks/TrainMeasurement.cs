using System.Globalization;
using System.Text.Json;
using ElasticTrain.Measurement;

namespace ElasticTrain.Cli.Benchmarks;

/// <summary>One committed step as the training benchmark sees it.</summary>
/// <param name="TimeMs">When the step was committed, in milliseconds on any one clock.</param>
/// <param name="StepMs">The step's own duration.</param>
/// <param name="ExposedMs">Communication time the step waited on (0 where not reported).</param>
/// <param name="BytesSent">What the ranks' gradient exchanges sent for the step, summed (0 where not reported).</param>
/// <param name="Loss">The step's training loss (NaN where not reported).</param>
/// <param name="Staleness">Parameter-server workers running ahead: how many committed steps the oldest values of the step lacked; null otherwise.</param>
public readonly record struct BenchStep(long Step, int World, double TimeMs, double StepMs, double ExposedMs, long BytesSent = 0,
    double Loss = double.NaN, long? Staleness = null)
{
    /// <summary>A metrics file line's step record, or null for any other record or a line cut off by a kill.</summary>
    public static BenchStep? FromMetricsLine(string line)
    {
        try
        {
            var record = JsonDocument.Parse(line).RootElement;
            if (record.GetProperty("type").GetString() != "step") return null;
            return new BenchStep(record.GetProperty("step").GetInt64(), record.GetProperty("world").GetInt32(),
                record.GetProperty("time_ms").GetDouble(), record.GetProperty("step_ms").GetDouble(),
                record.TryGetProperty("exposed_ms", out var exposed) ? exposed.GetDouble() : 0,
                record.TryGetProperty("bytes_sent", out var bytes) ? bytes.GetInt64() : 0,
                record.TryGetProperty("loss", out var loss) && loss.ValueKind == JsonValueKind.Number ? loss.GetDouble() : double.NaN,
                record.TryGetProperty("staleness", out var staleness) && staleness.ValueKind == JsonValueKind.Number ? staleness.GetInt64() : null);
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            return null;
        }
    }
}

/// <summary>
/// What <c>bench train</c> measures, from the committed steps: the first unbroken run of
/// <c>steps</c> consecutive steps at the full world, of which the first <c>warmup</c> are left out.
/// </summary>
/// <param name="SamplesPerSecond">Global batch times the intervals between the first and last measured commits, over that time.</param>
/// <param name="StepMs">Median step duration over the measured steps.</param>
/// <param name="CommExposedMs">Mean exposed communication time over the measured steps.</param>
/// <param name="BytesPerRank">Mean bytes one rank's gradient exchange sent per measured step.</param>
public sealed record TrainMeasurement(int Nodes, double SamplesPerSecond, double StepMs, double CommExposedMs, double BytesPerRank = 0)
{
    /// <summary>
    /// The measured steps, or null while there are not enough yet: in commit order, the first run of
    /// <paramref name="steps"/> records at <paramref name="world"/> with consecutive step numbers
    /// (a record at another world, or a step that is re-run or skipped, starts a new run), without
    /// its first <paramref name="warmup"/>.
    /// </summary>
    public static IReadOnlyList<BenchStep>? Window(IEnumerable<BenchStep> committed, int world, int warmup, int steps)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(warmup);
        ArgumentOutOfRangeException.ThrowIfLessThan(steps, warmup + 2);
        var run = new List<BenchStep>();
        foreach (var step in committed)
        {
            if (step.World != world) { run.Clear(); continue; }
            if (run.Count > 0 && step.Step != run[^1].Step + 1) run.Clear();
            run.Add(step);
            if (run.Count == steps) return run.GetRange(warmup, steps - warmup);
        }
        return null;
    }

    /// <summary>The summary of a window of at least two measured steps, each of <paramref name="globalBatch"/> samples.</summary>
    public static TrainMeasurement Of(IReadOnlyList<BenchStep> window, int nodes, int globalBatch)
    {
        if (window.Count < 2) throw new ArgumentException($"a window needs at least 2 steps, not {window.Count}", nameof(window));
        var seconds = (window[^1].TimeMs - window[0].TimeMs) / 1000.0;
        var rate = seconds > 0 ? globalBatch * (window.Count - 1) / seconds : double.PositiveInfinity;
        return new TrainMeasurement(nodes, rate, Median.Of(window.Select(s => s.StepMs)), window.Average(s => s.ExposedMs), window.Average(s => (double)s.BytesSent / s.World));
    }

    /// <summary>The benchmark's result line.</summary>
    public string Line => string.Create(CultureInfo.InvariantCulture,
        $"train nodes={Nodes} samples_per_s={SamplesPerSecond:0.0} step_ms={StepMs:0.00} comm_exposed_ms={CommExposedMs:0.00} bytes_per_rank={BytesPerRank:0}");
}
