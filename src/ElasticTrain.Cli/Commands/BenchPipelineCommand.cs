using System.CommandLine;
using ElasticTrain.Cli.Benchmarks;
using ElasticTrain.Cli.Hosting;
using ElasticTrain.Configuration;
using ElasticTrain.Jobs;
using ElasticTrain.Pipeline;
using ElasticTrain.Ranks;

namespace ElasticTrain.Cli.Commands;

/// <summary>
/// <c>elastictrain bench pipeline --stages P --micro-batches M</c>: a dp x pp mesh of pipeline
/// stages in R x P processes on loopback (<see cref="PipelineBenchmark"/>). The last line is the
/// result: <c>pipeline stages=P [replicas=R] micro_batches=M schedule=S samples_per_s=X bubble=F
/// bubble_ideal=I peak_stage_mb=K</c>.
/// </summary>
public static class BenchPipelineCommand
{
    private const string Description =
        "Train the model as R replicas of a P-stage pipeline: R x P elastictrain processes on loopback, one stage each, "
        + "1 libtorch thread each, activations and gradients over the data plane's TCP, on random tokens. Prints each stage's "
        + "layers and parameter share, then: pipeline stages=P [replicas=R] micro_batches=M schedule=S samples_per_s=X bubble=F "
        + "bubble_ideal=I peak_stage_mb=K (bubble: per stage, the share of the step's first forward to last backward it does not "
        + "compute, averaged over stages and measured steps; bubble_ideal: (P-1)/(M+P-1); peak_stage_mb: the most activations a "
        + "stage held for its backwards). --stages 1 --replicas R is plain data parallelism on the same code path.";

    /// <summary>Processes one run may start.</summary>
    private const int MaxProcesses = 64;

    /// <summary>Unless --global-batch says otherwise: enough samples for a few micro-batches per stage.</summary>
    private const int DefaultGlobalBatch = 64;

    public static IEnumerable<Command> Create(TextWriter error)
    {
        var stages = new Option<int>("--stages") { Description = "Pipeline stages P", Required = true };
        var microBatches = new Option<int>("--micro-batches") { Description = "Micro-batches M per step and replica", Required = true };
        var schedule = new Option<string>("--schedule") { Description = "1f1b or gpipe", DefaultValueFactory = _ => "1f1b" };
        var replicas = new Option<int>("--replicas") { Description = "Replicas R of the pipeline, each with its slice of the global batch", DefaultValueFactory = _ => 1 };
        var steps = new Option<int>("--steps") { Description = "Measured steps, after the warmup", DefaultValueFactory = _ => 10 };
        var warmup = new Option<int>("--warmup") { Description = "Steps run first and left out", DefaultValueFactory = _ => 2 };
        var flags = new HoconFlags()
            .AddModel()
            .Add<int>("--global-batch", "elastictrain.job.global-batch", $"Samples per step over all replicas (default {DefaultGlobalBatch})")
            .Add<long>("--seed", "elastictrain.job.seed", "Seed of the model init and the random tokens");
        var command = new Command("pipeline", Description) { stages, microBatches, schedule, replicas, steps, warmup };
        flags.AddTo(command);
        command.SetAction(async (parse, cancellation) =>
        {
            var config = NodeConfig.Merge(flags.Overrides(parse).WithFallback(
                HoconFiles.Parse($"elastictrain.job.global-batch = {DefaultGlobalBatch}", "bench pipeline")), null);
            var job = JobConfig.FromConfig(config);
            var options = new PipelineBenchmark.Options(parse.GetValue(stages), parse.GetValue(microBatches), Schedule(parse.GetValue(schedule)!),
                parse.GetValue(replicas), parse.GetValue(steps), parse.GetValue(warmup));
            Validate(options, job);
            var bucketBytes = HostSettings.FromConfig(config).BucketBytes;
            return await BenchCommand.Measure(async () =>
            {
                var result = await PipelineBenchmark.RunAsync(job, bucketBytes, options, Console.Out, cancellation);
                Console.WriteLine(result.Line);
            }, error, cancellation);
        });

        var worker = new Command("pipeline-worker", "One process of `bench pipeline` (started by it; reads its setup on standard input)")
        {
            Hidden = true,
        };
        worker.SetAction(_ => PipelineWorker.Run(Console.In, Console.Out, error));
        return [command, worker];
    }

    private static ScheduleKind Schedule(string text)
    {
        try
        {
            return ScheduleKinds.Parse(text);
        }
        catch (ArgumentException)
        {
            throw new SettingsException($"--schedule must be 1f1b or gpipe, not '{text}'");
        }
    }

    private static void Validate(PipelineBenchmark.Options options, JobConfig job)
    {
        var layers = Replica.SpecOf(job).PipelineLayers;
        if (options.Stages < 1) throw new SettingsException($"--stages must be at least 1, not {options.Stages}");
        if (options.Stages > layers)
            throw new SettingsException($"--stages {options.Stages} is more than the model's {layers} pipeline layers: every stage needs at least one layer");
        if (options.MicroBatches < 1) throw new SettingsException($"--micro-batches must be at least 1, not {options.MicroBatches}");
        if (options.Replicas < 1) throw new SettingsException($"--replicas must be at least 1, not {options.Replicas}");
        if (options.Replicas * options.Stages > MaxProcesses)
            throw new SettingsException($"--replicas x --stages must be at most {MaxProcesses} processes, not {options.Replicas * options.Stages}");
        if (options.Steps < 1) throw new SettingsException($"--steps must be at least 1, not {options.Steps}");
        if (options.Warmup < 0) throw new SettingsException($"--warmup must be 0 or more, not {options.Warmup}");
        if (job.GlobalBatch < options.Replicas)
            throw new SettingsException(
                $"--global-batch {job.GlobalBatch} is smaller than the {options.Replicas} replicas: every replica needs at least one sample per step");
    }
}
