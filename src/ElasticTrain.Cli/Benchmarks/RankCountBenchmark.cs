using System.Globalization;
using System.Text.Json;
using Akka.Configuration;
using ElasticTrain.Cli.Hosting;
using ElasticTrain.Cli.Reporting;
using ElasticTrain.Configuration;

namespace ElasticTrain.Cli.Benchmarks;

/// <summary>
/// <c>bench ranks</c>: steps per second of one job trained in this process (as <c>train</c> runs
/// it, actors and exchange included) for several rank counts. The rank counts alternate round by
/// round, so that drift in the machine's speed hits each alike; every run is a fresh job in a
/// fresh temporary folder. A run's first steps (model build, first allocations) are left out: the
/// rate is taken between the commits of step <c>warmup</c> and of the last step.
/// </summary>
public static class RankCountBenchmark
{
    /// <param name="Steps">Steps of each run, warmup included.</param>
    /// <param name="Warmup">Steps of each run left out before measuring.</param>
    public sealed record Options(IReadOnlyList<int> RankCounts, int Rounds, int Steps, int Warmup);

    /// <summary>
    /// Prints <c>round R ranks=N steps_per_s=X</c> after each run, then per rank count
    /// <c>median ranks=N steps_per_s=X samples_per_s=Y (min A, max B, n runs)</c>.
    /// </summary>
    /// <param name="config">The user's settings over the defaults; each run sets its own rank count, steps, job and folder over them.</param>
    public static async Task RunAsync(Config config, Options options, TextWriter output, CancellationToken cancellation)
    {
        // Read every rank count's settings before the first run: bad input (a global batch smaller
        // than a rank count) ends the command before any job has started.
        var settings = options.RankCounts.Select(ranks => HostSettings.FromConfig(ForRanks(config, ranks, options.Steps))).ToList();
        var globalBatch = settings[0].Job.GlobalBatch;
        var rates = options.RankCounts.ToDictionary(ranks => ranks, _ => new List<double>());
        for (int round = 1; round <= options.Rounds; round++)
        {
            foreach (var ranks in options.RankCounts)
            {
                var rate = await StepsPerSecondAsync(ForRanks(config, ranks, options.Steps), ranks, options, cancellation);
                rates[ranks].Add(rate);
                output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"round {round} ranks={ranks} steps_per_s={rate:0.000}"));
            }
        }
        foreach (var (ranks, runs) in rates)
        {
            // The middle run; of an even number of runs, the faster of the two middle ones.
            var median = runs.Order().ElementAt(runs.Count / 2);
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"median ranks={ranks} steps_per_s={median:0.000} samples_per_s={median * globalBatch:0.0} (min {runs.Min():0.000}, max {runs.Max():0.000}, {runs.Count} runs)"));
        }
    }

    /// <summary>
    /// A job of <paramref name="steps"/> steps on <paramref name="ranks"/> ranks, which never
    /// checkpoints before its last step (a checkpoint would land in the measured steps).
    /// </summary>
    private static Config ForRanks(Config config, int ranks, int steps) => HoconFiles.Parse(string.Create(CultureInfo.InvariantCulture, $"""
        elastictrain.ranks = {ranks}
        elastictrain.job.id = bench-ranks
        elastictrain.job.steps = {steps}
        elastictrain.job.checkpoint-every = {steps}
        """), "bench ranks").WithFallback(config);

    private static async Task<double> StepsPerSecondAsync(Config config, int ranks, Options options, CancellationToken cancellation)
    {
        using var folder = new BenchFolder();
        config = HoconFiles.Parse($"elastictrain.data-directory = {JsonSerializer.Serialize(folder.Path)}", "bench ranks").WithFallback(config);
        var settings = HostSettings.FromConfig(config);
        var metrics = Path.Combine(folder.Path, "metrics.jsonl");
        NodeHost.Result result;
        using (var file = new MetricsFile(metrics))
            result = await NodeHost.TrainAsync(settings, config, [file], new LiveNode(), cancellation);
        cancellation.ThrowIfCancellationRequested();
        if (result.ExitCode != 0) throw new BenchmarkException($"training with {ranks} ranks exited {result.ExitCode}: {result.Error}");

        // The window starts at step `warmup`, whose commit is when the measured steps begin.
        var committed = File.ReadLines(metrics).Select(BenchStep.FromMetricsLine).OfType<BenchStep>();
        var window = TrainMeasurement.Window(committed, ranks, options.Warmup - 1, options.Steps)
            ?? throw new BenchmarkException($"training with {ranks} ranks did not commit steps 1..{options.Steps} at world {ranks}");
        return TrainMeasurement.Of(window, ranks, globalBatch: settings.Job.GlobalBatch).SamplesPerSecond / settings.Job.GlobalBatch;
    }
}
