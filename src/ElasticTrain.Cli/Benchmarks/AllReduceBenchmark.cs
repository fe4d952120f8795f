using System.Diagnostics;
using System.Globalization;
using ElasticTrain.Collectives;
using ElasticTrain.Collectives.Transport;

namespace ElasticTrain.Cli.Benchmarks;

/// <summary>
/// All-reduce bandwidth of the data plane between real processes on loopback, reported the way
/// nccl-tests and the gloo peer do: algbw = bytes / time, busbw = algbw * 2(n-1)/n, in MB/s.
/// The parent starts n worker processes, tells each where the others listen, and collects their
/// timings; the slowest worker's mean time per all-reduce is the result.
/// </summary>
public static class AllReduceBenchmark
{
    public sealed record Options(int Nodes, double SizeMb, int Iterations, int Warmup);

    public sealed record Result(Options Options, double Ms, double BusMbps, double RawTcpMbps)
    {
        public override string ToString() => string.Create(CultureInfo.InvariantCulture,
            $"allreduce nodes={Options.Nodes} size_mb={Options.SizeMb:0.###} ms={Ms:0.00} busbw_mbps={BusMbps:0} raw_tcp_mbps={RawTcpMbps:0}");
    }

    /// <summary>
    /// The workers' data-plane secret. Fixed, so that workers started separately (as the parent
    /// and the tests do) agree without a store; they listen on loopback and carry no job's data.
    /// </summary>
    private static readonly byte[] WorkerSecret = System.Security.Cryptography.SHA256.HashData("elastictrain bench allreduce"u8);

    public static int Values(double sizeMb) => checked((int)(sizeMb * 1024 * 1024 / sizeof(float)));

    /// <summary>busbw in MB/s for one all-reduce of <paramref name="values"/> floats over <paramref name="nodes"/> members.</summary>
    public static double BusBandwidth(int values, int nodes, double ms) =>
        values * (double)sizeof(float) / (ms / 1000) / 1e6 * 2 * (nodes - 1) / nodes;

    public static async Task<Result> RunAsync(Options options, TextWriter log, CancellationToken cancellation)
    {
        var raw = RawTcpThroughput.Measure(Math.Max(256L << 20, (long)Values(options.SizeMb) * sizeof(float) * 4));
        log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"one loopback socket: {raw:0} MB/s"));
        var workers = new List<CliProcess>();
        try
        {
            for (int i = 0; i < options.Nodes; i++)
                workers.Add(CliProcess.Start(["bench", "allreduce-worker", "--index", $"{i}", "--nodes", $"{options.Nodes}",
                    "--size-mb", options.SizeMb.ToString(CultureInfo.InvariantCulture), "--iters", $"{options.Iterations}", "--warmup", $"{options.Warmup}"],
                    redirectInput: true));
            var addresses = new List<string>();
            foreach (var worker in workers)
                addresses.Add(await worker.ReadFieldAsync("address", cancellation));
            foreach (var worker in workers)
            {
                await worker.Input.WriteLineAsync(string.Join(',', addresses));
                await worker.Input.FlushAsync(cancellation);
            }
            var times = new List<double>();
            foreach (var worker in workers)
                times.Add(double.Parse(await worker.ReadFieldAsync("ms", cancellation), CultureInfo.InvariantCulture));
            var ms = times.Max();
            return new Result(options, ms, BusBandwidth(Values(options.SizeMb), options.Nodes, ms), raw);
        }
        finally
        {
            workers.ForEach(w => w.Dispose());
        }
    }

    /// <summary>
    /// One worker: open the data plane, say where it listens, learn the others' addresses from
    /// standard input, check one all-reduce's result, then time the rest.
    /// </summary>
    public static int Worker(int index, Options options, TextWriter output, TextReader input, TextWriter error)
    {
        try
        {
            return RunWorker(index, options, output, input, error);
        }
        catch (ExchangeFailedException e)
        {
            error.WriteLine($"error: worker {index}: {e.Message}");
            return 1;
        }
    }

    private static int RunWorker(int index, Options options, TextWriter output, TextReader input, TextWriter error)
    {
        using var transport = new TensorTransport("127.0.0.1", WorkerSecret);
        using var port = transport.Open($"w{index}");
        output.WriteLine($"address {transport.Address}");
        output.Flush();
        var addresses = (input.ReadLine() ?? "").Split(',');
        if (addresses.Length != options.Nodes) { error.WriteLine("error: expected the workers' addresses on standard input"); return 2; }
        var members = addresses.Select((a, i) => new ExchangeMember($"w{i}", a)).ToArray();
        var ring = new RingAllReduce(port, TimeSpan.FromSeconds(60));
        var values = new float[Values(options.SizeMb)];

        // Correctness first: member i contributes i + 1 everywhere, so every element must sum to n(n+1)/2.
        Array.Fill(values, index + 1);
        ring.AllReduceSum(values, new ExchangeGroup(1, 0, index, members), 0, CancellationToken.None);
        float expected = options.Nodes * (options.Nodes + 1) / 2f;
        if (values.Any(v => v != expected)) { error.WriteLine("error: the all-reduce returned a wrong sum"); return 1; }

        var random = new Random(index);
        for (int i = 0; i < values.Length; i++) values[i] = random.NextSingle() - 0.5f;
        for (int i = 1; i <= options.Warmup; i++)
            ring.AllReduceSum(values, new ExchangeGroup(1, i, index, members), 0, CancellationToken.None);
        var clock = Stopwatch.StartNew();
        for (int i = 1; i <= options.Iterations; i++)
            ring.AllReduceSum(values, new ExchangeGroup(1, options.Warmup + i, index, members), 0, CancellationToken.None);
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"ms {clock.Elapsed.TotalMilliseconds / options.Iterations:0.000}"));
        output.Flush();
        return 0;
    }
}

/// <summary>A benchmark could not run (a worker died, a port was taken); one line for the user.</summary>
/// <param name="detail">What a worker process wrote to standard error before it ended, in full (a stack trace), if anything.</param>
public sealed class BenchmarkException(string message, string? detail = null) : Exception(message)
{
    public string? Detail => detail;
}
