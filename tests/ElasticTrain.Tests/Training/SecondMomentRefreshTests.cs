using ElasticTrain.Configuration;
using ElasticTrain.Training;
using static ElasticTrain.Tests.Support.TestSettings;

namespace ElasticTrain.Tests.Training;

/// <summary>A top-k job's schedule of dense steps and second-moment refreshes, and when a job has one.</summary>
public class SecondMomentRefreshTests
{
    [Fact]
    public void Dense_steps_come_first_then_a_refresh_every_period_and_the_bias_step_holds_between()
    {
        var schedule = new SecondMomentRefresh(DenseSteps: 30, Every: 50);
        Assert.All(new long[] { 1, 15, 30 }, s => Assert.True(schedule.IsDense(s) && !schedule.Refreshes(s) && schedule.MomentStep(s) == s));
        Assert.Equal([31L, 81, 131], Enumerable.Range(1, 150).Select(s => (long)s).Where(schedule.Refreshes));
        Assert.False(schedule.IsDense(31));
        Assert.Equal([31L, 31, 31, 81, 81], new long[] { 31, 50, 80, 81, 130 }.Select(schedule.MomentStep));

        var fromTheStart = new SecondMomentRefresh(DenseSteps: 0, Every: 1);
        Assert.All(new long[] { 1, 2, 3 }, s => Assert.True(!fromTheStart.IsDense(s) && fromTheStart.Refreshes(s) && fromTheStart.MomentStep(s) == s));
    }

    [Fact]
    public void Top_k_with_Adam_or_AdamW_refreshes_the_second_moment_and_says_so_in_the_identity()
    {
        var adamw = Read("elastictrain.job.compression = \"topk:0.01\"").Recipe;
        Assert.Equal(new SecondMomentRefresh(30, 50), adamw.Moments);
        Assert.Equal("compression=topk:0.01;topk=dense-steps=30,second-moment-every=50", adamw.Canonical);
        var adam = Read("""
            elastictrain.job { compression = "topk:0.01", optimizer.name = adam, topk { dense-steps = 0, second-moment-every = 20 } }
            """).Recipe;
        Assert.Equal(new SecondMomentRefresh(0, 20), adam.Moments);
        // Other rules keep no second moment, and other modes send every coordinate each step.
        Assert.Null(Read("elastictrain.job { compression = \"topk:0.01\", optimizer.name = sgd }").Recipe.Moments);
        Assert.Null(Read("elastictrain.job.compression = \"powersgd:4\"").Recipe.Moments);
        Assert.Null(Read().Recipe.Moments);
        Assert.Contains("second-moment-every",
            Assert.Throws<SettingsException>(() => Read("elastictrain.job { compression = \"topk:0.01\", topk.second-moment-every = 0 }")).Message);
    }
}
