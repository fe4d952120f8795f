using System.CommandLine;
using ElasticTrain.Cli.Benchmarks;
using ElasticTrain.Configuration;

namespace ElasticTrain.Cli.Commands;

/// <summary>
/// <c>elastictrain bench allreduce --nodes N --size-mb S [--iters K]</c>: the data plane's
/// all-reduce bandwidth between N processes on loopback, beside one raw socket's throughput.
/// </summary>
public static class BenchAllReduceCommand
{
    public static IEnumerable<Command> Create(TextWriter error)
    {
        var nodes = new Option<int>("--nodes") { Description = "Worker processes, one ring member each", DefaultValueFactory = _ => 2 };
        var size = new Option<double>("--size-mb") { Description = "Buffer size in MiB", DefaultValueFactory = _ => 64 };
        var iterations = new Option<int>("--iters") { Description = "Timed all-reduces (after the warm-up)", DefaultValueFactory = _ => 50 };
        var warmup = new Option<int>("--warmup") { Description = "Untimed all-reduces first (the JIT needs a few dozen calls to settle)", DefaultValueFactory = _ => 20 };

        var bench = new Command("allreduce", "All-reduce bandwidth of the data plane between processes on this machine")
        {
            nodes, size, iterations, warmup,
        };
        bench.SetAction(async (parse, cancellation) =>
        {
            var options = Read(parse, nodes, size, iterations, warmup);
            try
            {
                var result = await AllReduceBenchmark.RunAsync(options, Console.Out, cancellation);
                Console.WriteLine(result);
                return 0;
            }
            catch (BenchmarkException e)
            {
                error.WriteLine($"error: {e.Message}");
                return 1;
            }
        });

        var index = new Option<int>("--index") { Description = "This worker's place in the ring" };
        var worker = new Command("allreduce-worker", "One process of `bench allreduce` (started by it)")
        {
            index, nodes, size, iterations, warmup,
        };
        worker.Hidden = true;
        worker.SetAction(parse => AllReduceBenchmark.Worker(parse.GetValue(index), Read(parse, nodes, size, iterations, warmup),
            Console.Out, Console.In, error));
        return [bench, worker];
    }

    private static AllReduceBenchmark.Options Read(ParseResult parse, Option<int> nodes, Option<double> size, Option<int> iterations, Option<int> warmup)
    {
        var options = new AllReduceBenchmark.Options(parse.GetValue(nodes), parse.GetValue(size), parse.GetValue(iterations), parse.GetValue(warmup));
        if (options.Nodes is < 1 or > 64) throw new SettingsException($"--nodes must be between 1 and 64, not {options.Nodes}");
        if (!(options.SizeMb > 0) || options.SizeMb > 1024) throw new SettingsException($"--size-mb must be above 0 and at most 1024, not {options.SizeMb}");
        if (options.Iterations < 1) throw new SettingsException($"--iters must be at least 1, not {options.Iterations}");
        if (options.Warmup < 0) throw new SettingsException($"--warmup must be at least 0, not {options.Warmup}");
        return options;
    }
}
