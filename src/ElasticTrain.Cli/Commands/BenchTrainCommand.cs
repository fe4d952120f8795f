using System.CommandLine;
using ElasticTrain.Cli.Benchmarks;
using ElasticTrain.Cli.Hosting;
using ElasticTrain.Configuration;
using ElasticTrain.Jobs;

namespace ElasticTrain.Cli.Commands;

/// <summary>
/// <c>elastictrain bench train</c>: samples per second of the default model, trained by N
/// processes on loopback or (<c>--plain</c>) by a bare loop in this process. The last line of
/// output is the result: <c>train nodes=N samples_per_s=X step_ms=Y comm_exposed_ms=Z</c>.
/// </summary>
public static class BenchTrainCommand
{
    private const string Description =
        "Train the default model and print samples/s. Starts N elastictrain processes on loopback (train, then node --join), "
        + "each with 1 rank and 1 libtorch thread, in a temporary folder; the job grows to world N as they join. Measured: the first "
        + "--steps consecutive steps at world N, less the first --warmup; then every process is killed and the folder removed. "
        + "With --plain: the same steps as a bare loop in this process, on 1 thread, without actors. "
        + "Last line: train nodes=N samples_per_s=X step_ms=Y comm_exposed_ms=Z (step_ms: median; comm_exposed_ms: mean)";

    public static Command Create(TextWriter error)
    {
        var nodes = new Option<int>("--nodes") { Description = "Processes, one rank each (--plain: 1 only)", DefaultValueFactory = _ => 1 };
        var steps = new Option<int>("--steps") { Description = "Steps at world N to run, warmup included", DefaultValueFactory = _ => 30 };
        var globalBatch = new Option<int?>("--global-batch") { Description = "Samples per step over all ranks (default: the job default, 16)" };
        var warmup = new Option<int>("--warmup") { Description = "Steps at world N left out before measuring", DefaultValueFactory = _ => 5 };
        var plain = new Option<bool>("--plain") { Description = "A bare training loop in this process: no actors, no exchange, no journal" };
        var config = new Option<string?>("--config") { Description = "HOCON file of settings for every process (e.g. elastictrain.bucket-size)" };
        var command = new Command("train", Description) { nodes, steps, globalBatch, warmup, plain, config };
        command.SetAction(async (parse, cancellation) =>
        {
            var (n, k, w, isPlain) = (parse.GetValue(nodes), parse.GetValue(steps), parse.GetValue(warmup), parse.GetValue(plain));
            var job = JobConfig.FromConfig(NodeConfig.Defaults());
            var b = parse.GetValue(globalBatch) ?? job.GlobalBatch;
            Validate(n, k, w, b, isPlain);
            var settings = parse.GetValue(config) is { } file ? CheckedSettings(file) : "";
            return await BenchCommand.Measure(async () =>
            {
                var result = isPlain
                    ? RunPlain(job with { GlobalBatch = b }, k, w, cancellation)
                    : await ClusterTrainBenchmark.RunAsync(n, k, w, b, settings, Console.Out, cancellation);
                Console.WriteLine(result.Line);
            }, error, cancellation);
        });
        return command;
    }

    /// <summary>The file's text, once it has parsed: a bad file is one error line here, not N processes failing.</summary>
    private static string CheckedSettings(string file)
    {
        HoconFiles.Load(file);
        return File.ReadAllText(file);
    }

    private static void Validate(int nodes, int steps, int warmup, int globalBatch, bool plain)
    {
        if (nodes < 1) throw new SettingsException($"--nodes must be at least 1, not {nodes}");
        if (plain && nodes != 1) throw new SettingsException($"--plain trains in this one process: --nodes must be 1, not {nodes}");
        if (warmup < 0) throw new SettingsException($"--warmup must be 0 or more, not {warmup}");
        if (steps < warmup + 2) throw new SettingsException($"--steps must be at least --warmup + 2 ({warmup + 2}) to measure a rate, not {steps}");
        if (globalBatch < 1) throw new SettingsException($"--global-batch must be at least 1, not {globalBatch}");
        if (globalBatch < nodes)
            throw new SettingsException($"--global-batch {globalBatch} is smaller than the {nodes} nodes: every rank needs at least one sample per step");
    }

    private static TrainMeasurement RunPlain(JobConfig job, int steps, int warmup, CancellationToken cancellation)
    {
        using var folder = new BenchFolder();
        Console.WriteLine($"bench train --plain: global batch {job.GlobalBatch}, 1 thread, {steps} steps of which {warmup} warmup");
        var data = JobData.Load(job.DataPath, job, folder.Path, recipe: null);
        var records = PlainTrainingLoop.Run(job, data, steps, Console.Out, cancellation);
        return TrainMeasurement.Of(TrainMeasurement.Window(records, world: 1, warmup, steps)!, nodes: 1, job.GlobalBatch);
    }
}
