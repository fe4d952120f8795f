using System.Globalization;
using System.Text.RegularExpressions;
using ElasticTrain.Cli;

namespace ElasticTrain.Tests.Evaluation;

/// <summary>
/// Whole jobs with evaluation through the real CLI in one process: the validation loss is the same
/// for one rank and three (whose shares of the 20 held-out windows (7, 7, 6) and of the global batch of 10
/// differ), evaluation leaves the training curve alone, and `eval --job` gives the job's last
/// evaluation from its checkpoint.
/// </summary>
public sealed class EvaluationTrainingTests
{
    private const int Steps = 30;

    private static readonly string[] Job =
        [.. TrainRun.TinyGpt, "--global-batch", "10", "--steps", Steps.ToString(), "--checkpoint-every", "30"];

    private static async Task<TrainRun> Train(int ranks, int evalEvery = 10)
    {
        var run = new TrainRun();
        string[] extra = ["--ranks", ranks.ToString(), "--eval-every", evalEvery.ToString()];
        var (code, error) = await run.RunAsync([.. Job, .. extra]);
        Assert.True(code == 0, $"{string.Join(' ', extra)}: {error}");
        return run;
    }

    private static SortedDictionary<long, double> EvalLosses(TrainRun run) =>
        new(run.Records("eval").ToDictionary(r => r.GetProperty("step").GetInt64(), r => r.GetProperty("loss").GetDouble()));

    private static async Task<(int Code, string Output, string Error)> Eval(TrainRun run, params string[] args)
    {
        var (output, error) = (new StringWriter(), new StringWriter());
        var code = await CliApp.RunAsync(["eval", "--data-dir", run.DataDirectory, "--data", TinyCorpus.Path_, .. args], error, default, output);
        return (code, output.ToString(), error.ToString());
    }

    [Fact]
    public async Task One_rank_and_three_evaluate_alike_every_ten_steps_evaluation_leaves_the_curve_alone_and_eval_reads_the_last_from_the_checkpoint()
    {
        using var one = await Train(ranks: 1);
        using var three = await Train(ranks: 3);

        var losses = EvalLosses(one);
        Assert.Equal([10L, 20L, 30L], losses.Keys);
        Assert.True(losses[30] < losses[10], $"validation loss did not fall: {losses[10]} at 10, {losses[30]} at 30");
        LossCurves.AssertEquivalent(losses, EvalLosses(three), relative: 1e-4);
        LossCurves.AssertEquivalent(one.Losses(), three.Losses(), relative: 1e-4);
        var last = one.Records("eval").Last();
        Assert.Equal(20, last.GetProperty("samples").GetInt32()); // 1% of the tiny corpus's 2047 windows
        Assert.Equal(Math.Exp(losses[30]), last.GetProperty("perplexity").GetDouble(), 1e-9);

        // Evaluating only at the end holds out the same windows: the training curve and the last evaluation are the same.
        using var atEnd = await Train(ranks: 1, evalEvery: 1000);
        Assert.Equal([30L], EvalLosses(atEnd).Keys);
        LossCurves.AssertEquivalent(one.Losses(), atEnd.Losses(), relative: 1e-6);
        Assert.Equal(losses[30], EvalLosses(atEnd)[30], 1e-6);

        var (code, output, error) = await Eval(one, "--eval-every", "10");
        Assert.True(code == 0, error);
        var match = Regex.Match(output, @"job main at step 30: val (?<loss>[0-9.]+) perplexity [0-9.]+ over 20 held-out windows");
        Assert.True(match.Success, output);
        var evaluated = double.Parse(match.Groups["loss"].Value, CultureInfo.InvariantCulture);
        Assert.True(Math.Abs(evaluated - losses[30]) <= 1e-4 * losses[30], $"eval --job gave {evaluated}, the job's last evaluation {losses[30]}");
    }

    [Fact]
    public async Task Eval_refuses_an_unknown_job_and_one_trained_without_held_out_windows_with_one_error_line()
    {
        using var plain = new TrainRun();
        var (trained, trainError) = await plain.RunAsync([.. TrainRun.TinyGpt, "--global-batch", "4", "--steps", "2", "--checkpoint-every", "2", "--ranks", "1"]);
        Assert.True(trained == 0, trainError);

        var (code, _, error) = await Eval(plain, "--job", "nonesuch");
        Assert.Equal(2, code);
        Assert.Matches(@"^error: no job 'nonesuch' in the store \(SQLite .*\)\n$", error);

        (code, _, error) = await Eval(plain);
        Assert.Equal(2, code);
        Assert.Equal("error: job 'main' holds no windows out to evaluate on: it was trained without --eval-every\n", error);
    }

    [Fact]
    public async Task A_pipeline_mesh_with_evaluation_is_refused_at_the_start_with_one_error_line()
    {
        using var run = new TrainRun();
        var (code, error) = await run.RunAsync([.. Job, "--eval-every", "10", "--ranks", "2", "--stages", "2"]);
        Assert.Equal(2, code);
        Assert.Equal("error: elastictrain.job.eval-every needs plain data parallelism: elastictrain.parallel.stages must be 1 or auto, not 2\n", error);
    }
}
