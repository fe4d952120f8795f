namespace ElasticTrain.Tests.Training;

public class ResumeTests
{
    [Fact]
    public async Task A_job_continued_from_its_checkpoint_matches_an_uninterrupted_run()
    {
        using var whole = new TrainRun();
        using var pieces = new TrainRun();
        string[] job = [.. TrainRun.TinyGpt, "--global-batch", "8", "--checkpoint-every", "4", "--ranks", "2"];
        Assert.Equal(0, (await whole.RunAsync([.. job, "--steps", "10"])).ExitCode);
        Assert.Equal(0, (await pieces.RunAsync([.. job, "--steps", "6"])).ExitCode);
        Assert.Equal(0, (await pieces.RunAsync([.. job, "--steps", "10"])).ExitCode);

        var resume = Assert.Single(pieces.Records("resume"));
        Assert.Equal(7, resume.GetProperty("from_step").GetInt64());
        LossCurves.AssertEquivalent(whole.Losses(), pieces.Losses(), relative: 1e-4);
    }

    [Fact]
    public async Task Running_a_finished_job_again_says_so_and_exits_zero()
    {
        using var run = new TrainRun();
        string[] job = ["--model", "mlp", "--width", "16", "--block", "16", "--global-batch", "4", "--steps", "3", "--ranks", "1"];
        Assert.Equal(0, (await run.RunAsync(job)).ExitCode);
        Assert.Equal(0, (await run.RunAsync(job)).ExitCode);
        var finishes = run.Records("finish");
        Assert.Equal([false, true], finishes.Select(f => f.GetProperty("already_finished").GetBoolean()));
        Assert.Equal(3, run.Losses().Count);
    }
}
