using System.Text;
using System.Text.Json;

namespace ElasticTrain.Cli.Reporting;

/// <summary>A "step" record of the metrics file; <c>Recovered</c> steps were filled in from the journal, their time is the fill-in's.</summary>
/// <param name="Samples">The step's samples (the global batch); null in files written before step records carried it.</param>
public readonly record struct StepPoint(long Step, double Loss, int World, long Generation, long TimeMs, bool Recovered, int? Samples = null);

/// <summary>A "start", "resume" or "generation" record: from <c>FromStep</c> on, the job runs with <c>World</c> ranks.</summary>
public readonly record struct GenerationMark(string Kind, long FromStep, int World, long Generation, long TimeMs);

/// <summary>Steps (and samples, where the records say how many) per second between two step records, at <c>Seconds</c> after the series' first record.</summary>
public readonly record struct RatePoint(double Seconds, double StepsPerSecond, double? SamplesPerSecond = null);

/// <summary>A metrics file that cannot be read as one; its message is the operator's error line.</summary>
public sealed class MetricsFileException(string message) : Exception(message);

/// <summary>
/// The last run recorded in a metrics file (<see cref="MetricsFile"/>): its step records and its
/// generation changes, in file order. A "start" record begins the series again, as it makes the
/// writer start the file's steps over: the lines before it are another job's.
/// </summary>
public sealed record MetricsSeries(IReadOnlyList<StepPoint> Steps, IReadOnlyList<GenerationMark> Generations)
{
    /// <summary>Unix milliseconds of the series' first record: time zero of <see cref="Throughput"/>.</summary>
    public long StartMs => Generations.Count > 0 ? Math.Min(Generations[0].TimeMs, Steps[0].TimeMs) : Steps[0].TimeMs;

    /// <summary>
    /// Steps per second between consecutive step records that carry their commit time, and samples
    /// per second where the records carry the step's samples. Recovered steps are left out: their
    /// time is when they were filled in, not when they were committed.
    /// </summary>
    public IReadOnlyList<RatePoint> Throughput()
    {
        var rates = new List<RatePoint>();
        var start = StartMs;
        StepPoint? previous = null;
        foreach (var step in Steps.Where(s => !s.Recovered))
        {
            if (previous is { } p && step.TimeMs > p.TimeMs)
            {
                var stepsPerSecond = (step.Step - p.Step) * 1000.0 / (step.TimeMs - p.TimeMs);
                rates.Add(new RatePoint((step.TimeMs - start) / 1000.0, stepsPerSecond, stepsPerSecond * step.Samples));
            }
            previous = step;
        }
        return rates;
    }

    /// <summary>
    /// Reads <paramref name="path"/>. A line cut short by a kill (the start of a JSON record) is
    /// skipped, as the writer does; any other line that is not a JSON record, a step or generation
    /// record without its fields, or a file without step records is a <see cref="MetricsFileException"/>.
    /// </summary>
    public static MetricsSeries Read(string path)
    {
        if (!File.Exists(path)) throw new MetricsFileException($"metrics file '{path}' does not exist");
        try
        {
            return FromLines(File.ReadLines(path), path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new MetricsFileException($"cannot read metrics file '{path}': {e.Message}");
        }
    }

    private static MetricsSeries FromLines(IEnumerable<string> lines, string path)
    {
        var steps = new List<StepPoint>();
        var generations = new List<GenerationMark>();
        var number = 0;
        foreach (var line in lines)
        {
            number++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            var where = $"line {number} of '{path}'";
            if (Parse(line, where) is not { } r) continue;
            switch (Text(r, "type", where))
            {
                case "step":
                    steps.Add(new StepPoint(Field(r, "step", where, e => e.GetInt64()), Field(r, "loss", where, e => e.GetDouble()),
                        Field(r, "world", where, e => e.GetInt32()), Field(r, "generation", where, e => e.GetInt64()),
                        Field(r, "time_ms", where, e => e.GetInt64()), r.TryGetProperty("recovered", out var recovered) && recovered.ValueKind == JsonValueKind.True,
                        r.TryGetProperty("samples", out var samples) && samples.ValueKind == JsonValueKind.Number ? samples.GetInt32() : null));
                    break;
                case var kind when kind is "start" or "resume" or "generation":
                    if (kind == "start") { steps.Clear(); generations.Clear(); }
                    generations.Add(new GenerationMark(kind, Field(r, "from_step", where, e => e.GetInt64()), Field(r, "world", where, e => e.GetInt32()),
                        Field(r, "generation", where, e => e.GetInt64()), Field(r, "time_ms", where, e => e.GetInt64())));
                    break;
            }
        }
        if (steps.Count == 0) throw new MetricsFileException($"metrics file '{path}' has no step records");
        return new MetricsSeries(steps, generations);
    }

    /// <summary>The line's record, or null for a line cut short by a kill.</summary>
    private static JsonElement? Parse(string line, string where)
    {
        try
        {
            using var document = JsonDocument.Parse(line);
            if (document.RootElement.ValueKind != JsonValueKind.Object) throw new MetricsFileException($"{where} is not a JSON object");
            return document.RootElement.Clone();
        }
        catch (JsonException e)
        {
            if (IsCutShort(line)) return null;
            throw new MetricsFileException($"{where} is not a JSON record ({e.Message})");
        }
    }

    /// <summary>Whether the line is the start of a JSON object that ends too early: what a kill mid-write leaves.</summary>
    private static bool IsCutShort(string line)
    {
        var reader = new Utf8JsonReader(Encoding.UTF8.GetBytes(line), isFinalBlock: false, state: default);
        try
        {
            while (reader.Read()) { }
            // The reader asks for more data without finding an error: a valid beginning.
            return line.TrimStart().StartsWith('{');
        }
        catch (JsonException)
        {
            return false;
        }
    }

    private static string Text(JsonElement record, string name, string where) =>
        Field(record, name, where, e => e.GetString() ?? throw new InvalidOperationException());

    private static T Field<T>(JsonElement record, string name, string where, Func<JsonElement, T> value)
    {
        try
        {
            return value(record.GetProperty(name));
        }
        catch (Exception e) when (e is KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new MetricsFileException($"{where} has no valid \"{name}\"");
        }
    }
}
