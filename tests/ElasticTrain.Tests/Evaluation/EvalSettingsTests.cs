using ElasticTrain.Cli.Hosting;
using ElasticTrain.Configuration;
using ElasticTrain.Coordination;
using ElasticTrain.Jobs;
using ElasticTrain.Ranks;
using ElasticTrain.Ranks.Pipeline;
using static ElasticTrain.Tests.Support.TestSettings;

namespace ElasticTrain.Tests.Evaluation;

/// <summary>eval-every and eval-fraction as settings, what they add to the identity, and how an evaluation is shared out.</summary>
public sealed class EvalSettingsTests
{
    [Fact]
    public void Evaluation_is_off_by_default_and_leaves_the_identity_as_it_was()
    {
        var settings = Read();
        Assert.Null(settings.Recipe.EvalEvery);
        Assert.False(settings.Recipe.HoldsOut);
        Assert.Equal(0.01, settings.Recipe.EvalFraction);
        Assert.Equal("", settings.Recipe.Canonical);
        Assert.Equal(settings.Job.IdentityHash("data-1"), settings.Job.IdentityHash("data-1", settings.Recipe));
    }

    [Fact]
    public void With_evaluation_on_the_split_enters_the_identity_but_not_the_period()
    {
        var every10 = Read("elastictrain.job { eval-every = 10, eval-fraction = 0.02 }");
        var every50 = Read("elastictrain.job { eval-every = 50, eval-fraction = 0.02 }");
        var otherFraction = Read("elastictrain.job { eval-every = 10, eval-fraction = 0.03 }");
        Assert.Equal(10, every10.Recipe.EvalEvery);
        Assert.Equal("eval-fraction=0.02", every10.Recipe.Canonical);
        string Hash(HostSettings s) => s.Job.IdentityHash("data-1", s.Recipe);
        Assert.Equal(Hash(every10), Hash(every50));
        Assert.NotEqual(Hash(every10), Hash(otherFraction));
        Assert.NotEqual(Hash(Read()), Hash(every10));
        Assert.Contains("eval every 10 steps", every10.Recipe.Describe());
    }

    [Theory]
    [InlineData("eval-every = 0", "elastictrain.job.eval-every")]
    [InlineData("eval-every = often", "elastictrain.job.eval-every")]
    [InlineData("eval-every = 10, eval-fraction = 0", "eval-fraction")]
    [InlineData("eval-every = 10, eval-fraction = 0.9", "eval-fraction")]
    public void Bad_values_are_refused_naming_the_key(string hocon, string key)
    {
        var refused = Assert.Throws<SettingsException>(() => Read($"elastictrain.job {{ {hocon} }}"));
        Assert.Contains(key, refused.Message);
    }

    [Fact]
    public void Evaluation_asks_for_plain_data_parallelism_pinning_auto_stages_to_one_and_refusing_more()
    {
        Assert.Equal(1, Read("elastictrain.job.eval-every = 10").Mesh.Stages);
        Assert.Null(Read().Mesh.Stages);
        var refused = Assert.Throws<SettingsException>(() => Read("elastictrain.job.eval-every = 10\nelastictrain.parallel.stages = 2"));
        Assert.Contains("elastictrain.parallel.stages", refused.Message);
    }

    private static RankId R(int i) => new(new NodeAddress("n", 1), i);

    private static MeshLayout Mesh(int replicas) =>
        new(2, [0], [.. Enumerable.Range(0, replicas).Select(r => new[] { R(r) })], 1, ElasticTrain.Pipeline.ScheduleKind.OneFOneB);

    [Fact]
    public void The_held_out_windows_are_shared_evenly_among_the_replicas_in_contiguous_parts()
    {
        var evaluation = HeldOutEvaluation.Of(4, 30, Mesh(3), 20);
        Assert.Equal([(0, 7), (7, 7), (14, 6)], evaluation.Plan.Slices.Select(s => (s.Offset, s.Count)));
        Assert.Single(HeldOutEvaluation.Of(4, 30, Mesh(3), 1).Plan.Slices); // fewer windows than replicas: only the first take part
    }

    [Fact]
    public void The_loss_is_the_sum_over_every_rank_divided_by_the_windows_whatever_the_split()
    {
        var one = HeldOutEvaluation.Of(1, 10, Mesh(1), 20);
        Assert.True(one.Add(new HeldOutEvaluated(1, 10, R(0), 40.0, 20, 1)));
        var three = HeldOutEvaluation.Of(1, 10, Mesh(3), 20);
        Assert.True(three.Add(new HeldOutEvaluated(1, 10, R(0), 14.0, 7, 1)));
        Assert.False(three.Complete);
        Assert.False(three.Add(new HeldOutEvaluated(0, 10, R(1), 14.0, 7, 1)));  // another generation
        Assert.False(three.Add(new HeldOutEvaluated(1, 9, R(1), 14.0, 7, 1)));   // another step
        Assert.True(three.Add(new HeldOutEvaluated(1, 10, R(1), 14.0, 7, 1)));
        Assert.True(three.Add(new HeldOutEvaluated(1, 10, R(2), 12.0, 6, 1)));
        Assert.Equal(one.Result(), three.Result());
        Assert.Equal((2.0, Math.Exp(2.0), 20), three.Result());
    }
}
