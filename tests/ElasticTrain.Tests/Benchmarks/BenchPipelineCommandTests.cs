using System.Globalization;
using System.Text.RegularExpressions;
using ElasticTrain.Cli;
using ElasticTrain.Cli.Benchmarks;
using ElasticTrain.Jobs;
using ElasticTrain.Pipeline;

namespace ElasticTrain.Tests.Benchmarks;

public class BenchPipelineCommandTests
{
    /// <summary>Bad input: one error line and exit code 2, before any process starts. The default GPT has 6 pipeline layers.</summary>
    [Theory]
    [InlineData(new[] { "--stages", "0", "--micro-batches", "2" }, "error: --stages must be at least 1, not 0")]
    [InlineData(new[] { "--stages", "7", "--micro-batches", "2" }, "error: --stages 7 is more than the model's 6 pipeline layers: every stage needs at least one layer")]
    [InlineData(new[] { "--stages", "4", "--micro-batches", "2", "--model", "mlp" }, "error: --stages 4 is more than the model's 3 pipeline layers: every stage needs at least one layer")]
    [InlineData(new[] { "--stages", "2", "--micro-batches", "0" }, "error: --micro-batches must be at least 1, not 0")]
    [InlineData(new[] { "--stages", "2", "--micro-batches", "2", "--schedule", "zb" }, "error: --schedule must be 1f1b or gpipe, not 'zb'")]
    [InlineData(new[] { "--stages", "2", "--micro-batches", "2", "--replicas", "0" }, "error: --replicas must be at least 1, not 0")]
    [InlineData(new[] { "--stages", "1", "--micro-batches", "2", "--replicas", "4", "--global-batch", "3" },
        "error: --global-batch 3 is smaller than the 4 replicas: every replica needs at least one sample per step")]
    [InlineData(new[] { "--stages", "2", "--micro-batches", "2", "--steps", "0" }, "error: --steps must be at least 1, not 0")]
    [InlineData(new[] { "--stages", "2", "--micro-batches", "2", "--warmup", "-1" }, "error: --warmup must be 0 or more, not -1")]
    [InlineData(new[] { "--micro-batches", "2" }, "error: Option '--stages' is required.")]
    public async Task Bad_input_is_one_error_line_and_exit_code_2(string[] args, string expected)
    {
        var error = new StringWriter();
        Assert.Equal(2, await CliApp.RunAsync(["bench", "pipeline", .. args], error));
        Assert.Equal(expected, error.ToString().Trim());
    }

    /// <summary>
    /// The bubble divides each stage's compute by stage 0's span, the step's: stage 1 below waits
    /// 40 of its 100 ms, but stage 0's span is 80 ms, so stage 1 computed 60 of the step's 80.
    /// </summary>
    [Fact]
    public void The_bubble_is_each_stages_idle_share_of_the_steps_span_and_samples_per_s_uses_the_slowest_worker()
    {
        var options = new PipelineBenchmark.Options(2, 4, ScheduleKind.OneFOneB, 1, Steps: 2, Warmup: 0);
        var result = PipelineBenchmark.Measure(options, globalBatch: 16,
        [
            new(0, 0, WallMs: 400, [new(80, 20, 2, 1 << 20), new(80, 20, 2, 1 << 20)]),
            new(0, 1, WallMs: 500, [new(100, 40, 1, 3 << 20), new(100, 40, 1, 1 << 20)]),
        ]);
        // Stage 0: 1 - 60/80 = 0.25; stage 1: 1 - 60/80 = 0.25.
        Assert.Equal(0.25, result.Bubble, 12);
        Assert.Equal(1.0 / 5, result.IdealBubble, 12);
        Assert.Equal(3.0, result.PeakStageMb, 12);
        Assert.Equal(16 * 2 / 0.5, result.SamplesPerSecond, 9);
        Assert.Equal("pipeline stages=2 micro_batches=4 schedule=1f1b samples_per_s=64.00 bubble=0.2500 bubble_ideal=0.2000 peak_stage_mb=3.000",
            result.Line);
    }

    [Fact]
    public void Every_process_of_a_replica_draws_the_same_tokens_and_each_step_others()
    {
        var job = Job(globalBatch: 4);
        Assert.Equal(PipelineWorker.Tokens(job, 3), PipelineWorker.Tokens(job, 3));
        Assert.NotEqual(PipelineWorker.Tokens(job, 3), PipelineWorker.Tokens(job, 4));
        Assert.All(PipelineWorker.Tokens(job, 1), t => Assert.InRange(t, 0, 255));
    }

    [Fact]
    public async Task A_tiny_two_stage_pipeline_prints_its_stages_and_a_well_formed_result()
    {
        var log = new StringWriter();
        var options = new PipelineBenchmark.Options(Stages: 2, MicroBatches: 2, ScheduleKind.OneFOneB, Replicas: 1, Steps: 3, Warmup: 1);
        var result = await PipelineBenchmark.RunAsync(Job(globalBatch: 8), bucketBytes: 4096, options, log, CancellationToken.None)
            .WaitAsync(TimeSpan.FromMinutes(2));

        Assert.Matches(@"(?m)^stage 0 layers=embedding,blocks\.0 parameters=[0-9]+ share=0\.[0-9]{3}\r?$", log.ToString());
        Assert.Matches(@"(?m)^stage 1 layers=blocks\.1,output parameters=[0-9]+ share=0\.[0-9]{3}\r?$", log.ToString());
        var line = Regex.Match(result.Line,
            @"^pipeline stages=2 micro_batches=2 schedule=1f1b samples_per_s=([0-9.]+) bubble=(-?[0-9.]+) bubble_ideal=0\.3333 peak_stage_mb=([0-9.]+)$");
        Assert.True(line.Success, result.Line);
        Assert.True(double.Parse(line.Groups[1].Value, CultureInfo.InvariantCulture) > 0, result.Line);
        Assert.InRange(result.Bubble, 0, 0.999999);
        Assert.True(result.PeakStageMb > 0, result.Line);
    }

    /// <summary>The tiny GPT: 2 blocks (4 pipeline layers), width 16, context 8.</summary>
    private static JobConfig Job(int globalBatch) => new("bench-pipeline-test", "gpt", Layers: 2, Heads: 2, Width: 16, Block: 8,
        GlobalBatch: globalBatch, Steps: 100, LearningRate: 1e-3, WeightDecay: 0.01, Seed: 5, DataPath: "", CheckpointEvery: 100);
}
