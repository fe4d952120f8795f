using System.CommandLine;
using ElasticTrain.Cli.Benchmarks;
using ElasticTrain.Cli.Hosting;
using ElasticTrain.Configuration;
using ElasticTrain.Jobs;
using ElasticTrain.Training;

namespace ElasticTrain.Cli.Commands;

/// <summary>
/// <c>elastictrain bench train</c>: samples per second of the default model, trained by N
/// processes on loopback or (<c>--plain</c>) by a bare loop in this process. The last line of
/// output is the result: <c>train nodes=N samples_per_s=X step_ms=Y comm_exposed_ms=Z bytes_per_rank=B</c>.
/// </summary>
public static class BenchTrainCommand
{
    private const string Description =
        "Train the default model and print samples/s. Starts N elastictrain processes on loopback (train, then node --join), "
        + "each with 1 rank and --threads libtorch threads, in a temporary folder; the job grows to world N as they join. Measured: the first "
        + "--steps consecutive steps at world N, less the first --warmup; then every process is killed and the folder removed. "
        + "With --plain: the same steps as a bare loop in this process, on --threads threads, without actors. "
        + "With --link-rate: each process in a network namespace of its own, on links shaped to that rate (needs root). "
        + "Last line: train nodes=N samples_per_s=X step_ms=Y comm_exposed_ms=Z bytes_per_rank=B "
        + "(step_ms: median; comm_exposed_ms: mean; bytes_per_rank: mean bytes one rank's exchange sent per step)";

    public static Command Create(TextWriter error)
    {
        var nodes = new Option<int>("--nodes") { Description = "Processes, one rank each (--plain: 1 only)", DefaultValueFactory = _ => 1 };
        var threads = new Option<int>("--threads") { Description = "libtorch threads of each process", DefaultValueFactory = _ => 1 };
        var steps = new Option<int>("--steps") { Description = "Steps at world N to run, warmup included", DefaultValueFactory = _ => 30 };
        var globalBatch = new Option<int?>("--global-batch") { Description = "Samples per step over all ranks (default: the job default, 16)" };
        var warmup = new Option<int>("--warmup") { Description = "Steps at world N left out before measuring", DefaultValueFactory = _ => 5 };
        var plain = new Option<bool>("--plain") { Description = "A bare training loop in this process: no actors, no exchange, no journal" };
        var config = new Option<string?>("--config") { Description = "HOCON file of settings for every process (e.g. elastictrain.bucket-size)" };
        var compression = new Option<string?>("--compression") { Description = "Gradients on the wire: none (default), fp16, bf16, topk:RATIO or powersgd:RANK" };
        var linkRate = new Option<string?>("--link-rate") { Description = "Put each process on a host of its own, linked at this rate (a tc rate such as 1gbit); needs root and iproute2" };
        var command = new Command("train", Description) { nodes, threads, steps, globalBatch, warmup, plain, config, compression, linkRate };
        command.SetAction(async (parse, cancellation) =>
        {
            var (n, k, w, isPlain) = (parse.GetValue(nodes), parse.GetValue(steps), parse.GetValue(warmup), parse.GetValue(plain));
            var job = JobConfig.FromConfig(NodeConfig.Defaults());
            var b = parse.GetValue(globalBatch) ?? job.GlobalBatch;
            var (mode, rate, t) = (parse.GetValue(compression), parse.GetValue(linkRate), parse.GetValue(threads));
            Validate(n, k, w, b, isPlain);
            if (t < 1) throw new SettingsException($"--threads must be at least 1, not {t}");
            ValidateCluster(isPlain, mode, rate);
            // Top-k's steady state, not its dense first steps (elastictrain.job.topk), unless the file says otherwise.
            var settings = $"{SecondMomentRefresh.Key}.dense-steps = 0\n" + (parse.GetValue(config) is { } file ? CheckedSettings(file) : "");
            if (mode is not null) settings += $"\n{CompressionSettings.Key} = \"{mode}\"\n";
            return await BenchCommand.Measure(async () =>
            {
                var result = isPlain
                    ? RunPlain(job with { GlobalBatch = b }, t, k, w, cancellation)
                    : await RunCluster(n, t, k, w, b, settings, rate, cancellation);
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

    private static void ValidateCluster(bool plain, string? compression, string? linkRate)
    {
        if (plain && (compression is not null || linkRate is not null))
            throw new SettingsException("--plain trains without an exchange: --compression and --link-rate need processes");
        if (compression is not null) CompressionSettings.Parse(compression);
        if (linkRate is not null && !NamespaceNetwork.Usable)
            throw new SettingsException("--link-rate puts each process in a network namespace: run as root, with iproute2 installed");
    }

    private static async Task<TrainMeasurement> RunCluster(int nodes, int threads, int steps, int warmup, int globalBatch, string settings,
        string? linkRate, CancellationToken cancellation)
    {
        if (linkRate is null)
            return await ClusterTrainBenchmark.RunAsync(nodes, threads, steps, warmup, globalBatch, settings, null, Console.Out, cancellation);
        NamespaceNetwork network;
        try { network = new NamespaceNetwork(nodes, linkRate); }
        catch (NetworkSetupException e) { throw new BenchmarkException($"could not make the shaped network: {e.Message}"); }
        using (network)
        {
            Console.WriteLine($"bench train: {nodes} hosts in network namespaces, each linked at {linkRate}");
            return await ClusterTrainBenchmark.RunAsync(nodes, threads, steps, warmup, globalBatch, settings, network, Console.Out, cancellation);
        }
    }

    private static TrainMeasurement RunPlain(JobConfig job, int threads, int steps, int warmup, CancellationToken cancellation)
    {
        using var folder = new BenchFolder();
        Console.WriteLine($"bench train --plain: global batch {job.GlobalBatch}, {threads} thread(s), {steps} steps of which {warmup} warmup");
        var data = JobData.Load(job.DataPath, job, folder.Path, recipe: null);
        var records = PlainTrainingLoop.Run(job, data, threads, steps, Console.Out, cancellation);
        return TrainMeasurement.Of(TrainMeasurement.Window(records, world: 1, warmup, steps)!, nodes: 1, job.GlobalBatch);
    }
}
