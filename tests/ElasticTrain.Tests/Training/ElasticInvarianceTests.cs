namespace ElasticTrain.Tests.Training;

/// <summary>
/// The headline property: the loss curve does not depend on how many ranks run the job. Float
/// reduction order is the only allowed difference, hence the 1e-4 relative tolerance.
/// </summary>
public class ElasticInvarianceTests
{
    [Fact]
    public async Task One_rank_and_three_uneven_ranks_give_the_same_loss_curve()
    {
        using var one = new TrainRun();
        using var three = new TrainRun();
        // 10 samples over 3 ranks: slices of 4, 3 and 3.
        string[] job = [.. TrainRun.TinyGpt, "--global-batch", "10", "--steps", "12", "--checkpoint-every", "6"];
        Assert.Equal(0, (await one.RunAsync([.. job, "--ranks", "1"])).ExitCode);
        Assert.Equal(0, (await three.RunAsync([.. job, "--ranks", "3"])).ExitCode);

        var reference = one.Losses();
        Assert.Equal(12, reference.Count);
        Assert.True(reference[12] < reference[1], "the model did not learn");
        LossCurves.AssertEquivalent(reference, three.Losses(), relative: 1e-4);
        Assert.All(three.Records("step"), r => Assert.Equal(3, r.GetProperty("world").GetInt32()));
    }
}
