namespace ElasticTrain.Pipeline;

/// <summary>
/// The order in which a stage interleaves its micro-batches' forwards and backwards. Both have the
/// same bubble for equal costs; they differ in the activations a stage holds for its backwards.
/// </summary>
public enum ScheduleKind
{
    /// <summary>Every forward, then every backward: a stage holds all M micro-batches' activations.</summary>
    GPipe,

    /// <summary>One forward, one backward after a warm-up: stage s holds at most P - s micro-batches.</summary>
    OneFOneB,
}

/// <summary>The names a schedule has in settings and on the command line (`schedule = 1f1b | gpipe`).</summary>
public static class ScheduleKinds
{
    public static ScheduleKind Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return text.Trim().ToLowerInvariant() switch
        {
            "gpipe" => ScheduleKind.GPipe,
            "1f1b" => ScheduleKind.OneFOneB,
            _ => throw new ArgumentException($"Unknown pipeline schedule '{text}': expected 'gpipe' or '1f1b'.", nameof(text)),
        };
    }

    /// <summary>The name <see cref="Parse"/> reads back: gpipe or 1f1b.</summary>
    public static string Name(ScheduleKind kind) => kind switch
    {
        ScheduleKind.GPipe => "gpipe",
        ScheduleKind.OneFOneB => "1f1b",
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "Not a pipeline schedule."),
    };
}
