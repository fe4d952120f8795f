namespace ElasticTrain.Tests.Training;

/// <summary>
/// Whole jobs in one process with each optimizer, a warmup + cosine schedule and a clipping ceiling
/// that binds: the curve does not depend on the number of ranks, the pipeline mesh, or how many
/// passes a rank runs its slice in. This is what makes clipping hard: the norm that decides the
/// clip must be the whole model's over the whole global batch, whoever holds which part.
/// </summary>
/// <remarks>
/// 1e-4 relative per step, as for plain data parallelism: what differs is the order of float32
/// sums. The global batch of 10 splits unevenly (3 ranks: 4, 3, 3), so a gradient or a norm scaled
/// right only for equal parts fails; the ceiling is below the norm of many steps (at least 10 of
/// 60, most for all rules but rmsprop), so a norm summed over one stage or one rank only clips
/// differently and fails.
/// </remarks>
public sealed class RecipeInvarianceTests
{
    private const int Steps = 60;
    private const double Clip = 0.5;

    private static string[] Job(string optimizer) =>
    [
        .. TrainRun.TinyGpt, "--global-batch", "10", "--steps", Steps.ToString(), "--checkpoint-every", "30",
        "--optimizer", optimizer, "--lr-schedule", "cosine", "--warmup-steps", "10", "--min-lr", "1e-4", "--clip-norm", Clip.ToString(),
    ];

    /// <summary>Each rule with the hyper-parameters that give it state worth moving (momentum, centering).</summary>
    private static string Config(string optimizer) => optimizer switch
    {
        "sgd" => "elastictrain.job.optimizer { momentum = 0.9, nesterov = true }",
        "rmsprop" => "elastictrain.job.optimizer { momentum = 0.5, centered = true }",
        _ => "",
    };

    private static async Task<TrainRun> Run(string optimizer, params string[] extra)
    {
        var run = new TrainRun();
        Directory.CreateDirectory(run.DataDirectory);
        var config = Path.Combine(run.DataDirectory, "recipe.conf");
        await File.WriteAllTextAsync(config, Config(optimizer));
        var (code, error) = await run.RunAsync([.. Job(optimizer), "--config", config, .. extra]);
        Assert.True(code == 0, $"{optimizer} {string.Join(' ', extra)}: {error}");
        return run;
    }

    public static TheoryData<string> Optimizers() => ["adamw", "adam", "sgd", "lamb", "adagrad", "rmsprop"];

    [Theory]
    [MemberData(nameof(Optimizers))]
    public async Task Three_ranks_train_with_the_curve_of_one_with_clipping_that_binds(string optimizer)
    {
        using var one = await Run(optimizer, "--ranks", "1");
        using var three = await Run(optimizer, "--ranks", "3");

        var losses = one.Losses();
        Assert.True(losses.Values.Skip(Steps - 10).Average() < losses.Values.Take(10).Average(), $"{optimizer} did not learn");
        var norms = one.Records("step").Select(r => r.GetProperty("grad_norm").GetDouble()).ToList();
        Assert.True(norms.Count(n => n > Clip) >= 10, $"the ceiling bound on only {norms.Count(n => n > Clip)} of {Steps} steps");
        LossCurves.AssertEquivalent(losses, three.Losses(), relative: 1e-4);
        AssertSameNorms(one, three);
    }

    [Theory]
    [InlineData("lamb")]
    [InlineData("sgd")]
    public async Task A_pipelined_mesh_clips_by_the_whole_models_norm_and_trains_with_the_curve_of_one_rank(string optimizer)
    {
        using var one = await Run(optimizer, "--ranks", "1");
        using var mesh = await Run(optimizer, "--ranks", "4", "--stages", "2", "--micro-batches", "3");

        Assert.Equal("2x2", Assert.Single(mesh.Records("start")).GetProperty("mesh").GetString());
        LossCurves.AssertEquivalent(one.Losses(), mesh.Losses(), relative: 1e-4);
        AssertSameNorms(one, mesh);
    }

    [Fact]
    public async Task A_slice_run_in_passes_of_at_most_micro_batch_size_samples_trains_with_the_curve_of_one_pass()
    {
        using var whole = await Run("adamw", "--ranks", "2");
        using var passes = await Run("adamw", "--ranks", "2", "--micro-batch-size", "2");
        using var stagePasses = await Run("adamw", "--ranks", "2", "--stages", "2", "--micro-batches", "1", "--micro-batch-size", "3");

        LossCurves.AssertEquivalent(whole.Losses(), passes.Losses(), relative: 1e-4);
        LossCurves.AssertEquivalent(whole.Losses(), stagePasses.Losses(), relative: 1e-4);
    }

    [Fact]
    public async Task The_schedule_and_the_clip_change_the_curve_and_the_metrics_give_each_steps_rate()
    {
        using var recipe = await Run("adamw", "--ranks", "1");
        using var plain = new TrainRun();
        var (code, error) = await plain.RunAsync([.. TrainRun.TinyGpt, "--global-batch", "10", "--steps", Steps.ToString(), "--ranks", "1"]);
        Assert.True(code == 0, error);

        Assert.Equal(recipe.Losses()[1], plain.Losses()[1], 1e-9); // the same first forward
        Assert.NotEqual(recipe.Losses()[Steps], plain.Losses()[Steps]);
        var rates = recipe.Records("step").ToDictionary(r => r.GetProperty("step").GetInt64(), r => r.GetProperty("lr").GetDouble());
        Assert.Equal(1e-3 / 10, rates[1], 1e-12);  // warmup: step 1 of 10
        Assert.Equal(1e-3, rates[10], 1e-12);      // the peak at the warmup's end
        Assert.True(rates[Steps] < rates[30] && rates[30] < rates[11], "the cosine did not decay");
    }

    /// <summary>The norm before clipping, as each job reported it, step by step.</summary>
    private static void AssertSameNorms(TrainRun expected, TrainRun actual)
    {
        static Dictionary<long, double> Norms(TrainRun run) =>
            run.Records("step").ToDictionary(r => r.GetProperty("step").GetInt64(), r => r.GetProperty("grad_norm").GetDouble());
        LossCurves.AssertEquivalent(Norms(expected), Norms(actual), relative: 1e-3);
    }
}
