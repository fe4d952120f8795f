using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using ElasticTrain.Jobs;
using ElasticTrain.Models;
using ElasticTrain.Pipeline;
using ElasticTrain.Ranks;

namespace ElasticTrain.Cli.Benchmarks;

/// <summary>
/// <c>bench pipeline</c>: a dp x pp mesh of <see cref="Ranks.Pipeline.PipelineStage"/>s, one
/// <c>elastictrain</c> process per (replica, stage) on loopback, each with one libtorch thread,
/// training the model on random tokens. The parent partitions the model, starts the workers
/// (<see cref="PipelineWorker"/>), tells each where the others listen, and turns what they measured
/// into samples/s, the bubble and the activations a stage holds.
/// </summary>
/// <remarks>
/// There is no coordinator: each stage applies its step as soon as the step's exchange returns,
/// so the commit round trip a job adds to every step is not in these numbers (nor in the bubble,
/// which by definition ends at the step's last backward).
/// </remarks>
public static class PipelineBenchmark
{
    /// <param name="Steps">Measured steps, after <paramref name="Warmup"/> steps left out.</param>
    public sealed record Options(int Stages, int MicroBatches, ScheduleKind Schedule, int Replicas, int Steps, int Warmup);

    /// <summary>One measured step of one stage, from its <see cref="Ranks.Pipeline.PipelineStage.StepOutcome"/>.</summary>
    public sealed record StageStep(double SpanMs, double WaitMs, int PeakHeld, long PeakHeldBytes);

    /// <summary>What the worker of replica <paramref name="Replica"/>, stage <paramref name="Stage"/> measured.</summary>
    /// <param name="WallMs">From the start of its first measured step to the end of its last step's update.</param>
    public sealed record WorkerResult(int Replica, int Stage, double WallMs, IReadOnlyList<StageStep> Steps);

    /// <summary>One stage's means over replicas and measured steps: where its bubble comes from.</summary>
    /// <param name="ComputeMs">Its span less its waits: what it computed (sends and copies included).</param>
    /// <param name="StepSpanMs">Stage 0's span: from the step's first forward to its last backward.</param>
    public sealed record StageTimes(int Stage, double ComputeMs, double WaitMs, double StepSpanMs, double Bubble, int PeakHeld)
    {
        public string Line => string.Create(CultureInfo.InvariantCulture,
            $"stage {Stage} compute_ms={ComputeMs:0.0} wait_ms={WaitMs:0.0} step_span_ms={StepSpanMs:0.0} bubble={Bubble:0.0000} peak_held={PeakHeld}");
    }

    /// <param name="PeakStageMb">The most bytes of activations any stage held for its backwards at once, in MiB.</param>
    public sealed record Result(Options Options, double SamplesPerSecond, double Bubble, double IdealBubble, double PeakStageMb,
        IReadOnlyList<StageTimes> Stages)
    {
        public string Line => string.Create(CultureInfo.InvariantCulture,
            $"pipeline stages={Options.Stages}{(Options.Replicas > 1 ? $" replicas={Options.Replicas}" : "")} micro_batches={Options.MicroBatches} "
            + $"schedule={ScheduleKinds.Name(Options.Schedule)} samples_per_s={SamplesPerSecond:0.00} bubble={Bubble:0.0000} "
            + $"bubble_ideal={IdealBubble:0.0000} peak_stage_mb={PeakStageMb:0.000}");
    }

    /// <summary>
    /// Each pipeline layer's parameter count: the cost <see cref="StagePartition.Balanced"/> splits
    /// the model by. Parameters, not measured time, so that the partition is the same on every
    /// run and machine; for the GPT they follow the compute closely (the blocks are equal, and the
    /// embeddings and the output, each about a tenth of a block, fall on the first and last stage).
    /// </summary>
    public static IReadOnlyList<(string Name, long Parameters)> LayerParameters(ModelSpec spec, long seed)
    {
        using var model = ModelFactory.Create(spec, seed);
        return [.. ((ILayeredModel)model).Layers.Select(layer => (layer.Name, layer.ParameterCount))];
    }

    /// <summary>
    /// Prints each stage's layers and parameter share, runs the mesh's workers and returns the
    /// result; the caller prints its <see cref="Result.Line"/>.
    /// </summary>
    public static async Task<Result> RunAsync(JobConfig job, long bucketBytes, Options options, TextWriter log, CancellationToken cancellation)
    {
        var layers = LayerParameters(Replica.SpecOf(job), job.Seed);
        var partition = StagePartition.Balanced([.. layers.Select(l => (double)l.Parameters)], options.Stages);
        var total = layers.Sum(l => l.Parameters);
        for (int s = 0; s < partition.Stages; s++)
        {
            var held = layers.Skip(partition.FirstLayer(s)).Take(partition.EndLayer(s) - partition.FirstLayer(s)).ToList();
            var count = held.Sum(l => l.Parameters);
            log.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"stage {s} layers={string.Join(',', held.Select(l => l.Name))} parameters={count} share={(double)count / total:0.000}"));
        }
        log.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"bench pipeline: {options.Replicas} x {options.Stages} processes, 1 libtorch thread each, global batch {job.GlobalBatch}, "
            + $"{options.Warmup} warmup + {options.Steps} measured steps"));

        // A fresh secret per run, handed to the workers on standard input rather than on their command lines.
        var secret = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
        var firstLayers = Enumerable.Range(0, partition.Stages).Select(partition.FirstLayer).ToArray();
        var workers = new List<CliProcess>();
        try
        {
            for (int r = 0; r < options.Replicas; r++)
                for (int s = 0; s < options.Stages; s++)
                {
                    var worker = CliProcess.Start(["bench", "pipeline-worker"], redirectInput: true);
                    workers.Add(worker);
                    var setup = new PipelineWorker.Setup(job, options, firstLayers, bucketBytes, r, s, secret);
                    await worker.Input.WriteLineAsync(JsonSerializer.Serialize(setup));
                    await worker.Input.FlushAsync(cancellation);
                }
            var addresses = new List<string>();
            foreach (var worker in workers) addresses.Add(await worker.ReadFieldAsync("address", cancellation));
            foreach (var worker in workers)
            {
                await worker.Input.WriteLineAsync(string.Join(',', addresses));
                await worker.Input.FlushAsync(cancellation);
            }
            var results = await FirstFailure(workers.Select(async worker =>
                JsonSerializer.Deserialize<WorkerResult>(await worker.ReadFieldAsync("result", cancellation))
                    ?? throw new BenchmarkException("a worker sent an empty result")));
            var result = Measure(options, job.GlobalBatch, results);
            foreach (var stage in result.Stages) log.WriteLine(stage.Line);
            return result;
        }
        catch (BenchmarkException e) when (e.Detail is not null)
        {
            // The error line names the failure; the worker's whole report (a libtorch stack, say) goes with the output.
            log.WriteLine("the failed worker's standard error:");
            log.WriteLine(e.Detail);
            throw;
        }
        finally
        {
            workers.ForEach(w => w.Dispose());
        }
    }

    /// <summary>
    /// The result from every worker's measured steps. Per replica, step and stage s, the bubble is
    /// 1 - (span_s - wait_s) / span_0: the share of the step's span (stage 0's, which runs the
    /// step's first forward and its last backward) that stage s does not compute, as
    /// <see cref="ScheduleRun.StepSpanBubble"/> defines it. Stage s's own span starts too early to
    /// divide by: it starts its step right after its own update, and waits for stage 0 to finish
    /// the previous step's last backward before its first forward can come.
    /// </summary>
    public static Result Measure(Options options, int globalBatch, IReadOnlyList<WorkerResult> workers)
    {
        var grid = workers.ToDictionary(w => (w.Replica, w.Stage));
        var stages = Enumerable.Range(0, options.Stages).Select(s =>
        {
            var steps = (from r in Enumerable.Range(0, options.Replicas)
                         from step in Enumerable.Range(0, options.Steps)
                         select (Own: grid[(r, s)].Steps[step], StepSpan: grid[(r, 0)].Steps[step].SpanMs)).ToList();
            return new StageTimes(s, steps.Average(x => x.Own.SpanMs - x.Own.WaitMs), steps.Average(x => x.Own.WaitMs),
                steps.Average(x => x.StepSpan), steps.Average(x => 1 - (x.Own.SpanMs - x.Own.WaitMs) / x.StepSpan),
                steps.Max(x => x.Own.PeakHeld));
        }).ToList();
        var wallSeconds = workers.Max(w => w.WallMs) / 1000;
        var peakBytes = workers.SelectMany(w => w.Steps).Max(s => s.PeakHeldBytes);
        // Every stage has the same number of steps, so the mean of the stages' means is the mean over stages and steps.
        return new Result(options, (double)globalBatch * options.Steps / wallSeconds, stages.Average(s => s.Bubble),
            PipelineSchedule.IdealBubble(options.Stages, options.MicroBatches), peakBytes / (1024.0 * 1024.0), stages);
    }

    /// <summary>
    /// Every task's value, or the first failure as soon as it happens: a worker that died ends the
    /// run at once rather than after its neighbours' receive timeouts.
    /// </summary>
    private static async Task<IReadOnlyList<T>> FirstFailure<T>(IEnumerable<Task<T>> tasks)
    {
        var all = tasks.ToList();
        var pending = new List<Task<T>>(all);
        while (pending.Count > 0)
        {
            var done = await Task.WhenAny(pending);
            await done; // throws the failure
            pending.Remove(done);
        }
        return [.. all.Select(t => t.Result)];
    }
}
