using System.Globalization;

namespace ElasticTrain.Cli.Benchmarks;

/// <summary>
/// <c>bench ps</c>: how fast all-reduce and the parameter server's consistencies bring a small
/// model's loss down when one of three nodes is a straggler, and what the parameter server costs
/// per step when none is. Every run is a fresh job on a <see cref="LocalCluster"/> of three
/// processes (a train node and two that join it, one rank each), with the last node slowed by
/// <c>elastictrain.debug.slowdown</c> in the straggler runs. The target loss is what ps bsp's
/// moving average has come down to at <see cref="Options.TargetStep"/> in its own straggler run,
/// which runs first; the other straggler runs go until their average reaches it.
/// </summary>
public static class ParameterServerBenchmark
{
    /// <summary>Processes of every run: a shard and its backup can be on different nodes, and a straggler is one of three.</summary>
    public const int Nodes = 3;

    /// <param name="TargetStep">The step at which ps bsp's moving average sets the target.</param>
    /// <param name="MaxSteps">The step at which a straggler run that has not reached the target stops.</param>
    /// <param name="RateSteps">Steps at world 3 of each equal-speed run, warmup included.</param>
    /// <param name="Warmup">Steps at world 3 of each equal-speed run left out before measuring.</param>
    /// <param name="Window">Steps each moving average of the loss takes.</param>
    /// <param name="Slowdown">The straggler's factor (<c>elastictrain.debug.slowdown</c>).</param>
    /// <param name="JobFlags"><c>train</c> flags of every run: the model and anything else the user gave.</param>
    public sealed record Options(int GlobalBatch, int TargetStep, int MaxSteps, int RateSteps, int Warmup, int Window, double Slowdown,
        IReadOnlyList<string> JobFlags);

    /// <summary>A way to train the job: its name in the table and the <c>train</c> flags that choose it.</summary>
    public sealed record Mode(string Name, IReadOnlyList<string> Flags);

    public static readonly Mode AllReduce = new("allreduce", ["--mode", "allreduce"]);
    public static readonly Mode Bsp = new("ps bsp", PsFlags("bsp"));
    public static readonly Mode Ssp = new("ps ssp 2", [.. PsFlags("ssp"), "--staleness", "2"]);
    public static readonly Mode Asp = new("ps asp", PsFlags("asp"));

    // One shard per node, each with its backup on another node.
    private static string[] PsFlags(string consistency) => ["--mode", "ps", "--shards", Nodes.ToString(CultureInfo.InvariantCulture), "--consistency", consistency];

    /// <summary>What one run took to bring its moving average of the loss to the target.</summary>
    /// <param name="FromStep">The first step committed at the full world: the clock starts at its commit.</param>
    /// <param name="ReachedStep">The first step whose moving average is at or below the target; null when none is.</param>
    /// <param name="Seconds">From the commit of <paramref name="FromStep"/> to that of the reached step (or of the last step).</param>
    /// <param name="StepsPerSecond">Steps committed per second over those seconds.</param>
    /// <param name="MaxStaleness">The largest staleness of those steps; null where the mode reports none.</param>
    public sealed record TargetRun(long FromStep, long? ReachedStep, double Seconds, double StepsPerSecond, long? MaxStaleness);

    /// <summary>A line of the result table.</summary>
    /// <param name="Straggler">Whether one node was slowed.</param>
    /// <param name="Seconds">Time to the target; null in an equal-speed run or when the target was not reached.</param>
    /// <param name="Steps">Steps to the target (the job's step number, counted from its first step).</param>
    /// <param name="FullWorldStep">The first step at world 3: the steps before it ran while nodes joined.</param>
    public sealed record Row(string Mode, bool Straggler, double? Seconds, long? Steps, double StepsPerSecond, long? MaxStaleness, long FullWorldStep);

    /// <summary>
    /// The run's way to the <paramref name="target"/> over its <paramref name="committed"/> steps,
    /// the loss averaged over the last <paramref name="window"/> steps (the steps before the full
    /// world included: they trained the model too). A step reached before the full world counts as
    /// reached at its first step.
    /// </summary>
    public static TargetRun ToTarget(IReadOnlyList<BenchStep> committed, int world, int window, double target)
    {
        var start = committed.ToList().FindIndex(s => s.World == world);
        if (start < 0) throw new BenchmarkException($"the run committed no step at world {world}");
        var averages = LossCurve.Averages(committed.Select(s => s.Loss), window);
        int? reached = null;
        for (int i = start; i < committed.Count && reached is null; i++)
            if (averages[i] <= target) reached = i;
        var end = reached ?? committed.Count - 1;
        var seconds = (committed[end].TimeMs - committed[start].TimeMs) / 1000.0;
        var rate = seconds > 0 ? (end - start) / seconds : double.NaN;
        var staleness = committed.Take(end + 1).Select(s => s.Staleness).Max();
        return new TargetRun(committed[start].Step, reached is { } r ? committed[r].Step : null, seconds, rate, staleness);
    }

    /// <summary>The moving average at <paramref name="step"/>, or null before it is committed or has a full window.</summary>
    public static double? AverageAt(IReadOnlyList<BenchStep> committed, long step, int window)
    {
        var index = committed.ToList().FindIndex(s => s.Step == step);
        return index < 0 ? null : LossCurve.Averages(committed.Take(index + 1).Select(s => s.Loss), window)[index];
    }

    /// <summary>Runs the six jobs in turn, printing their progress, then the table and one result line per row.</summary>
    public static async Task<IReadOnlyList<Row>> RunAsync(Options options, TextWriter output, CancellationToken cancellation)
    {
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"bench ps: {Nodes} processes with 1 rank each, global batch {options.GlobalBatch}, {string.Join(' ', options.JobFlags)}; straggler: node 3 slowed {options.Slowdown}x"));
        var rows = new List<Row>();

        output.WriteLine($"== {Bsp.Name}, straggler: the target is its loss (mean of the last {options.Window} steps) at step {options.TargetStep}");
        var bsp = await TrainAsync(Bsp, straggler: true, options, c => AverageAt(c, options.TargetStep, options.Window) is not null ? c : null, output, cancellation);
        var target = AverageAt(bsp, options.TargetStep, options.Window)!.Value;
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"target loss {target:0.0000} (ps bsp's mean of steps {options.TargetStep - options.Window + 1}..{options.TargetStep})"));
        rows.Add(TargetRow(Bsp, bsp, options, target));

        foreach (var mode in new[] { AllReduce, Ssp, Asp })
        {
            output.WriteLine($"== {mode.Name}, straggler: until its mean loss reaches {target.ToString("0.0000", CultureInfo.InvariantCulture)} or step {options.MaxSteps}");
            var committed = await TrainAsync(mode, straggler: true, options,
                c => c.Count > 0 && (c[^1].Step >= options.MaxSteps || ReachedAtFullWorld(c, options.Window, target)) ? c : null, output, cancellation);
            rows.Add(TargetRow(mode, committed, options, target));
        }

        foreach (var mode in new[] { AllReduce, Bsp })
        {
            output.WriteLine($"== {mode.Name}, equal speeds: steps/s over {options.RateSteps - options.Warmup} steps at world {Nodes} after {options.Warmup}");
            var window = await TrainAsync(mode, straggler: false, options, c => TrainMeasurement.Window(c, Nodes, options.Warmup, options.RateSteps), output, cancellation);
            var rate = TrainMeasurement.Of(window, Nodes, options.GlobalBatch).SamplesPerSecond / options.GlobalBatch;
            rows.Add(new Row(mode.Name, Straggler: false, null, null, rate, window.Select(s => s.Staleness).Max(), window[0].Step - options.Warmup));
        }

        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"target loss {target:0.0000}: ps bsp's mean loss of steps {options.TargetStep - options.Window + 1}..{options.TargetStep} with the straggler"));
        output.WriteLine("| mode | node 3 | world 3 from step | time to target s | steps to target | steps/s at world 3 | max staleness |");
        output.WriteLine("| --- | --- | --- | --- | --- | --- | --- |");
        foreach (var row in rows) output.WriteLine(TableLine(row));
        foreach (var row in rows) output.WriteLine(ResultLine(row));
        return rows;
    }

    private static bool ReachedAtFullWorld(IReadOnlyList<BenchStep> committed, int window, double target) =>
        committed.Any(s => s.World == Nodes) && ToTarget(committed, Nodes, window, target).ReachedStep is not null;

    private static Row TargetRow(Mode mode, IReadOnlyList<BenchStep> committed, Options options, double target)
    {
        var run = ToTarget(committed, Nodes, options.Window, target);
        return new Row(mode.Name, Straggler: true, run.ReachedStep is null ? null : run.Seconds, run.ReachedStep, run.StepsPerSecond, run.MaxStaleness, run.FromStep);
    }

    /// <summary>One fresh job in <paramref name="mode"/>, watched until <paramref name="measured"/> makes a result of its committed steps.</summary>
    private static async Task<T> TrainAsync<T>(Mode mode, bool straggler, Options options, Func<IReadOnlyList<BenchStep>, T?> measured,
        TextWriter output, CancellationToken cancellation) where T : class
    {
        string[] slowLast = ["", "", string.Create(CultureInfo.InvariantCulture, $"elastictrain.debug.slowdown = {options.Slowdown}")];
        using var cluster = new LocalCluster(options.GlobalBatch, processSettings: straggler ? slowLast : null);
        // Every run's first step waits for all three ranks, so that every mode trains the same steps at the full world.
        string[] startTogether = ["--start-ranks", Nodes.ToString(CultureInfo.InvariantCulture)];
        var result = await ClusterTrainBenchmark.WatchAsync(cluster, Nodes, [.. mode.Flags, .. startTogether, .. options.JobFlags], measured, output, cancellation,
            progressEvery: 50, joinAtOnce: true);
        output.WriteLine("stopping the job");
        return result;
    }

    private static string TableLine(Row row) => string.Create(CultureInfo.InvariantCulture,
        $"| {row.Mode} | {(row.Straggler ? "slowed" : "equal")} | {row.FullWorldStep} | {(row.Straggler ? row.Seconds is { } s ? s.ToString("0.0", CultureInfo.InvariantCulture) : "not reached" : "")} | {(row.Straggler ? row.Steps?.ToString(CultureInfo.InvariantCulture) ?? "not reached" : "")} | {row.StepsPerSecond:0.00} | {row.MaxStaleness?.ToString(CultureInfo.InvariantCulture) ?? "-"} |");

    private static string ResultLine(Row row) => string.Create(CultureInfo.InvariantCulture,
        $"ps mode={row.Mode.Replace(' ', '-')} straggler={(row.Straggler ? "yes" : "no")} seconds_to_target={(row.Seconds is { } s ? s.ToString("0.0", CultureInfo.InvariantCulture) : "-")} steps_to_target={row.Steps?.ToString(CultureInfo.InvariantCulture) ?? "-"} steps_per_s={row.StepsPerSecond:0.00} max_staleness={row.MaxStaleness?.ToString(CultureInfo.InvariantCulture) ?? "-"} world3_from_step={row.FullWorldStep}");
}
