using System.Diagnostics;

namespace ElasticTrain.Cli.Benchmarks;

/// <summary>
/// <c>bench train</c> without <c>--plain</c>: a job on a <see cref="LocalCluster"/> of N processes.
/// The train node starts alone; once it has committed a step the other nodes join, and the world
/// grows to N at later step boundaries. The job is told to run far longer than needed; the metrics
/// file is watched, and as soon as it holds the measured window (<see cref="TrainMeasurement.Window"/>)
/// every process is killed.
/// </summary>
public static class ClusterTrainBenchmark
{
    /// <summary>How long the job may go without committing a step (startup, joins included) before the benchmark gives up.</summary>
    public static readonly TimeSpan StallLimit = TimeSpan.FromMinutes(3);

    /// <param name="network">Hosts for the processes, or null for loopback.</param>
    public static async Task<TrainMeasurement> RunAsync(int nodes, int threads, int steps, int warmup, int globalBatch, string settings,
        NamespaceNetwork? network, TextWriter output, CancellationToken cancellation)
    {
        using var cluster = new LocalCluster(globalBatch, settings, network, threads);
        output.WriteLine($"bench train: {nodes} process(es) with 1 rank and {threads} libtorch thread(s) each, global batch {globalBatch}, in {cluster.Folder}");
        output.WriteLine($"measuring {steps - warmup} steps at world {nodes} after {warmup} warmup steps at that world");
        var window = await WatchAsync(cluster, nodes, [], committed => TrainMeasurement.Window(committed, nodes, warmup, steps), output, cancellation);
        output.WriteLine($"measured steps {window[0].Step}..{window[^1].Step}; stopping the job");
        return TrainMeasurement.Of(window, nodes, globalBatch);
    }

    /// <summary>
    /// Starts the job on <paramref name="cluster"/> (its train node with <paramref name="jobFlags"/>,
    /// then nodes up to <paramref name="nodes"/> processes: once a step is committed, or with
    /// <paramref name="joinAtOnce"/> as soon as the train node listens, so that few steps run
    /// before the full world) and reads its
    /// committed steps until <paramref name="measured"/> makes a result of them. Prints every
    /// <paramref name="progressEvery"/>-th step and every world change. Throws a
    /// <see cref="BenchmarkException"/> when a process exits or no step is committed for <see cref="StallLimit"/>.
    /// </summary>
    public static async Task<T> WatchAsync<T>(LocalCluster cluster, int nodes, string[] jobFlags, Func<IReadOnlyList<BenchStep>, T?> measured,
        TextWriter output, CancellationToken cancellation, int progressEvery = 10, bool joinAtOnce = false) where T : class
    {
        var train = cluster.StartTrain(jobFlags);
        output.WriteLine($"started {train.Name} (pid {train.Process.Id})");

        var metrics = new JsonLinesTail(cluster.Metrics);
        var committed = new List<BenchStep>();
        var sinceProgress = Stopwatch.StartNew();
        while (true)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(100), cancellation);
            var world = committed.Count > 0 ? committed[^1].World : 0;
            foreach (var line in metrics.ReadNewLines())
            {
                if (BenchStep.FromMetricsLine(line) is not { } step) continue;
                committed.Add(step);
                sinceProgress.Restart();
                if (step.World != world || step.Step % progressEvery == 0)
                    output.WriteLine(FormattableString.Invariant($"step {step.Step}: world {step.World}, step_ms {step.StepMs:0.0}"));
                world = step.World;
            }

            if (measured(committed) is { } result) return result;
            while ((committed.Count > 0 || joinAtOnce && cluster.TrainListening()) && cluster.Started < nodes)
            {
                var node = cluster.StartNode();
                output.WriteLine($"started {node.Name} (pid {node.Process.Id}), joining");
            }
            if (cluster.Exited is { } dead)
            {
                var code = await dead.Process.WaitAsync(cancellation);
                await Task.WhenAny(dead.Drained, Task.Delay(TimeSpan.FromSeconds(5), cancellation));
                var said = dead.LastLines.LastOrDefault(l => l.StartsWith("error:", StringComparison.Ordinal)) ?? dead.LastLines.LastOrDefault();
                throw new BenchmarkException($"{dead.Name} exited with code {code} before the measurement ended" + (said is null ? "" : $" ({said})"));
            }
            if (sinceProgress.Elapsed > StallLimit)
                throw new BenchmarkException($"no step committed for {StallLimit.TotalSeconds:0} s (last step {committed.LastOrDefault().Step})");
        }
    }
}

/// <summary>Reads the complete lines appended to a file since the last read; a line still being written waits for the next.</summary>
public sealed class JsonLinesTail(string path)
{
    private long _position;

    public IReadOnlyList<string> ReadNewLines()
    {
        if (!File.Exists(path)) return [];
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        if (stream.Length <= _position) return [];
        stream.Seek(_position, SeekOrigin.Begin);
        var bytes = new byte[stream.Length - _position];
        stream.ReadExactly(bytes);
        var complete = Array.LastIndexOf(bytes, (byte)'\n') + 1;
        _position += complete;
        return System.Text.Encoding.UTF8.GetString(bytes, 0, complete).Split('\n', StringSplitOptions.RemoveEmptyEntries);
    }
}
