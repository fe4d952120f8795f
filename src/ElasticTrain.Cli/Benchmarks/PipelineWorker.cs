using System.Diagnostics;
using System.Text.Json;
using ElasticTrain.Collectives;
using ElasticTrain.Collectives.Transport;
using ElasticTrain.Data;
using ElasticTrain.Jobs;
using ElasticTrain.Models;
using ElasticTrain.Ranks;
using ElasticTrain.Ranks.Pipeline;
using TorchSharp;

namespace ElasticTrain.Cli.Benchmarks;

/// <summary>
/// One process of <c>bench pipeline</c>: one <see cref="PipelineStage"/> (replica r, stage s) on
/// the data plane. It reads its <see cref="Setup"/> as one JSON line on standard input, builds its
/// stage, prints <c>address A</c>, reads every worker's address (row by row of the grid) as one
/// line, then trains warmup and measured steps and prints <c>result {json}</c>
/// (<see cref="PipelineBenchmark.WorkerResult"/>).
/// </summary>
public static class PipelineWorker
{
    /// <summary>
    /// A receive or the wait for sends gives up after this long. Generous: with more processes
    /// than cores a neighbour's step can take many seconds; a neighbour that dies closes its
    /// connection and fails the step at once anyway.
    /// </summary>
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(2);

    /// <param name="FirstLayers">The partition, as each stage's first pipeline layer.</param>
    /// <param name="Secret">The run's data-plane secret, base64.</param>
    public sealed record Setup(JobConfig Job, PipelineBenchmark.Options Options, int[] FirstLayers, long BucketBytes,
        int Replica, int Stage, string Secret);

    public static int Run(TextReader input, TextWriter output, TextWriter error)
    {
        Setup? setup = null;
        try
        {
            setup = JsonSerializer.Deserialize<Setup>(input.ReadLine() ?? "null");
            if (setup is null) { error.WriteLine("error: expected the worker's setup on standard input"); return 2; }
            return Train(setup, input, output, error);
        }
        catch (ExchangeFailedException e)
        {
            error.WriteLine($"error: worker {setup?.Replica},{setup?.Stage}: {e.Message}");
            return 1;
        }
    }

    /// <summary>The rank of replica r, stage s, as the data plane names it.</summary>
    private static string RankName(int replica, int stage) => $"r{replica}s{stage}";

    /// <summary>
    /// Step <paramref name="step"/>'s global batch: random byte windows from a generator seeded by
    /// the job's seed and the step, so every process draws the same and takes its replica's slice.
    /// </summary>
    public static long[] Tokens(JobConfig job, long step)
    {
        var random = new Random(unchecked((int)(job.Seed * 1_000_003 + step))); // Random(int) draws the same everywhere
        var tokens = new long[job.GlobalBatch * (job.Block + 1)];
        for (int i = 0; i < tokens.Length; i++) tokens[i] = random.Next(256);
        return tokens;
    }

    private static int Train(Setup setup, TextReader input, TextWriter output, TextWriter error)
    {
        var (job, options) = (setup.Job, setup.Options);
        var (r, s) = (setup.Replica, setup.Stage);
        TorchRuntime.Configure(MklKernelChoice.Auto);
        TorchRuntime.UseThreads(1);
        var partition = new StagePartition(Replica.SpecOf(job).PipelineLayers, setup.FirstLayers);
        using var transport = new TensorTransport("127.0.0.1", Convert.FromBase64String(setup.Secret));
        using var port = transport.Open(RankName(r, s));
        using var stage = new PipelineStage(job, partition, s, torch.CPU, setup.BucketBytes);
        using var exchange = new BucketExchange(new RingAllReduce(port, Timeout), port.Rank, torchThreads: 1);
        output.WriteLine($"address {transport.Address}");
        output.Flush();

        var addresses = (input.ReadLine() ?? "").Split(',');
        if (addresses.Length != options.Replicas * options.Stages) { error.WriteLine("error: expected the workers' addresses on standard input"); return 2; }
        IReadOnlyList<IReadOnlyList<ExchangeMember>> grid = [.. Enumerable.Range(0, options.Replicas).Select(row =>
            (IReadOnlyList<ExchangeMember>)[.. Enumerable.Range(0, options.Stages).Select(column =>
                new ExchangeMember(RankName(row, column), addresses[row * options.Stages + column]))])];
        var place = new MeshPlace(1, grid, r, s, options.Schedule, options.MicroBatches);
        var stages = new PointToPoint(port, Timeout);
        var (offset, count) = SliceSplit.Even(job.GlobalBatch, options.Replicas)[r];
        var window = job.Block + 1;

        var measured = new List<PipelineBenchmark.StageStep>();
        var clock = new Stopwatch();
        for (int step = 1; step <= options.Warmup + options.Steps; step++)
        {
            if (step == options.Warmup + 1) clock.Start();
            var tokens = Tokens(job, step).AsSpan(offset * window, count * window).ToArray();
            var outcome = stage.Exchange(step, tokens, [.. Enumerable.Range(offset, count)], place, stages, exchange, Timeout, CancellationToken.None);
            // The benchmark's job does not clip, so the stage's own share of the norm will do.
            stage.Apply(step, outcome.GradientSquares);
            if (step > options.Warmup)
                measured.Add(new PipelineBenchmark.StageStep(outcome.SpanMs, outcome.WaitMs, outcome.PeakHeld, outcome.PeakHeldBytes));
        }
        var result = new PipelineBenchmark.WorkerResult(r, s, clock.Elapsed.TotalMilliseconds, measured);
        output.WriteLine($"result {JsonSerializer.Serialize(result)}");
        output.Flush();
        return 0;
    }
}
