namespace ElasticTrain.Tests.Training;

/// <summary>
/// Whole jobs with dropout: each sample's masks are its own, so the curve does not depend on the
/// number of ranks, the passes a rank's slice runs in, or the pipeline mesh (1e-4 relative, as
/// without dropout); and dropout does change the curve, so it is applied.
/// </summary>
/// <remarks>
/// The global batch of 10 splits unevenly over 3 ranks (4, 3, 3) and into 3 micro-batches per
/// replica of the 2x2 mesh (2, 2, 1), so masks drawn per batch tensor, or keyed by row, differ
/// between the meshes and fail.
/// </remarks>
public sealed class DropoutInvarianceTests
{
    private const int Steps = 40;

    private static async Task<TrainRun> Run(params string[] extra)
    {
        var run = new TrainRun();
        var (code, error) = await run.RunAsync([.. TrainRun.TinyGpt, "--global-batch", "10", "--steps", Steps.ToString(), .. extra]);
        Assert.True(code == 0, $"{string.Join(' ', extra)}: {error}");
        return run;
    }

    [Fact]
    public async Task With_dropout_one_rank_three_ranks_in_passes_and_a_2x2_mesh_train_with_one_curve_which_differs_from_no_dropout()
    {
        using var one = await Run("--dropout", "0.1", "--ranks", "1");
        using var three = await Run("--dropout", "0.1", "--ranks", "3", "--micro-batch-size", "2");
        using var mesh = await Run("--dropout", "0.1", "--ranks", "4", "--stages", "2", "--micro-batches", "3");
        using var plain = await Run("--ranks", "1");

        Assert.Equal("2x2", Assert.Single(mesh.Records("start")).GetProperty("mesh").GetString());
        var losses = one.Losses();
        Assert.Equal(Steps, losses.Count);
        Assert.True(losses.Values.Skip(Steps - 10).Average() < losses.Values.Take(10).Average(), "it did not learn with dropout");
        LossCurves.AssertEquivalent(losses, three.Losses(), relative: 1e-4);
        LossCurves.AssertEquivalent(losses, mesh.Losses(), relative: 1e-4);
        // Near initialization the logits are small, so dropout barely moves the first losses (about
        // 2e-4 relative); over the curve the difference grows far above the tolerance.
        var off = plain.Losses();
        var largest = losses.Max(l => Math.Abs(l.Value - off[l.Key]) / off[l.Key]);
        Assert.True(largest > 1e-2, $"dropout changed the curve by at most {largest:G3} relative");
    }
}
