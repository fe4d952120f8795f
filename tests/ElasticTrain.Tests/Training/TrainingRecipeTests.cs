using ElasticTrain.Cli.Hosting;
using ElasticTrain.Configuration;
using ElasticTrain.Jobs;
using ElasticTrain.ParameterServer;
using ElasticTrain.Ranks;
using ElasticTrain.Training;
using static ElasticTrain.Tests.Support.TestSettings;

namespace ElasticTrain.Tests.Training;

/// <summary>The recipe's settings as HOCON gives them, what enters the job's identity, and what is refused.</summary>
public class TrainingRecipeTests
{
    [Fact]
    public void The_defaults_are_todays_job_AdamW_decaying_every_parameter_at_a_constant_rate_unclipped()
    {
        var recipe = Read().Recipe;
        Assert.Equal(OptimizerSettings.Default, recipe.Optimizer);
        Assert.True(recipe.Schedule.IsConstant);
        Assert.Equal((null, null, 0.0), (recipe.ClipNorm, recipe.MicroBatchSize, recipe.Dropout));
        Assert.Equal("", recipe.Canonical);
        var job = Read().Job;
        // The hash every job started before these settings journaled: the defaults must not move it.
        Assert.Equal(job.IdentityHash("data-1"), job.IdentityHash("data-1", Read().Recipe));
        Assert.Equal("468b9a311c13c3f6", job.IdentityHash("data-1")); // as builds before the recipe computed it
    }

    [Fact]
    public void Every_key_is_read_and_auto_eps_and_no_decay_follow_the_rule()
    {
        var recipe = Read("""
            elastictrain.job {
              optimizer { name = lamb, beta1 = 0.8, beta2 = 0.99 }
              lr-schedule { name = cosine, warmup-steps = 100, min-lr = 3e-5, decay-steps = 1000 }
              clip-norm = 1.0
              micro-batch-size = 4
              dropout = 0.1
            }
            """).Recipe;
        Assert.Equal(new OptimizerSettings(OptimizerKind.Lamb, Beta1: 0.8, Beta2: 0.99, Eps: 1e-6, DecayBiasesAndNorms: false), recipe.Optimizer);
        Assert.Equal(new LearningRateSchedule(ScheduleShape.Cosine, WarmupSteps: 100, MinLr: 3e-5, DecaySteps: 1000, StepSize: 1000, RestartSteps: 1000), recipe.Schedule);
        Assert.Equal((1.0, 4, 0.1), (recipe.ClipNorm, recipe.MicroBatchSize, recipe.Dropout));
        Assert.Equal("lamb, cosine lr after 100 warmup steps, clip 1, micro-batch 4, dropout 0.1", recipe.Describe());

        Assert.True(Read("elastictrain.job.optimizer.name = adamw").Recipe.Optimizer.DecayBiasesAndNorms);
        Assert.False(Read("elastictrain.job.optimizer { name = adamw, no-decay = biases-and-norms }").Recipe.Optimizer.DecayBiasesAndNorms);
        Assert.True(Read("elastictrain.job.optimizer { name = sgd, no-decay = none }").Recipe.Optimizer.DecayBiasesAndNorms);
        Assert.Equal(1e-10, Read("elastictrain.job.optimizer.name = adagrad").Recipe.Optimizer.Eps);
        // auto decay-steps: the job's steps.
        Assert.Equal(2000, Read("elastictrain.job.lr-schedule.name = linear").Recipe.Schedule.DecaySteps);
    }

    [Theory]
    [InlineData("elastictrain.job.optimizer.learning-rate = 0.1", "the rate is elastictrain.job.learning-rate")]
    [InlineData("elastictrain.job.optimizer.weight-decay = 0.1", "elastictrain.job.optimizer.weight-decay is not a setting")]
    [InlineData("elastictrain.job.optimizer.name = adafactor", "elastictrain.job.optimizer.name must be one of adamw, adam, sgd, lamb, adagrad, rmsprop")]
    [InlineData("elastictrain.job.optimizer { name = sgd, nesterov = true }", "nesterov needs optimizer sgd with a momentum above 0")]
    [InlineData("elastictrain.job.optimizer.beta2 = 1", "elastictrain.job.optimizer.beta2 must be between")]
    [InlineData("elastictrain.job.lr-schedule.name = onecycle", "elastictrain.job.lr-schedule.name must be one of constant, cosine")]
    [InlineData("elastictrain.job.lr-schedule { name = cosine, min-lr = 1 }", "min-lr (1) must not exceed elastictrain.job.learning-rate")]
    [InlineData("elastictrain.job.lr-schedule { name = cosine, warmup-steps = 50, decay-steps = 50 }", "decay-steps (50) must be greater than warmup-steps (50)")]
    [InlineData("elastictrain.job.clip-norm = 0", "elastictrain.job.clip-norm must be greater than 0, or off")]
    [InlineData("elastictrain.job.clip-norm = lots", "elastictrain.job.clip-norm must be a number")]
    [InlineData("elastictrain.job.micro-batch-size = 0", "elastictrain.job.micro-batch-size must be")]
    [InlineData("elastictrain.job.dropout = 1", "elastictrain.job.dropout must be at least 0 and below 1")]
    [InlineData("elastictrain.job.dropout = -0.1", "elastictrain.job.dropout must be between")]
    public void A_bad_value_is_refused_with_its_key(string hocon, string message)
    {
        var refused = Assert.Throws<SettingsException>(() => Read(hocon));
        Assert.Contains(message, refused.Message);
    }

    [Fact]
    public void What_changes_the_math_enters_the_identity_and_the_micro_batch_size_does_not()
    {
        var job = Read().Job;
        string Hash(string hocon) => job.IdentityHash("data-1", Read(hocon).Recipe);
        var plain = Hash("");
        string[] changes =
        [
            "elastictrain.job.optimizer.name = lamb",
            "elastictrain.job.optimizer.beta2 = 0.95",
            "elastictrain.job.optimizer.no-decay = biases-and-norms",
            "elastictrain.job.lr-schedule.name = cosine",
            "elastictrain.job.lr-schedule.warmup-steps = 10",
            "elastictrain.job.clip-norm = 1",
            "elastictrain.job.dropout = 0.1",
        ];
        Assert.Equal(changes.Length, changes.Select(Hash).Append(plain).Distinct().Count() - 1);
        Assert.Equal(plain, Hash("elastictrain.job.micro-batch-size = 2"));
        // SGD's betas are not SGD's: they do not change its identity.
        Assert.Equal(Hash("elastictrain.job.optimizer.name = sgd"), Hash("elastictrain.job.optimizer { name = sgd, beta1 = 0.5 }"));
        // A cosine over the job's steps changes with them; a constant rate does not.
        Assert.NotEqual(Hash("elastictrain.job.lr-schedule.name = cosine"), Hash("elastictrain.job { steps = 3000, lr-schedule.name = cosine }"));
        Assert.Equal(plain, Hash("elastictrain.job.steps = 3000"));
    }

    [Fact]
    public void The_llama_recipe_example_reads_as_the_recipe_it_describes()
    {
        var path = Path.Combine(RepositoryRoot.Find(), "hocon", "examples", "llama-recipe.conf");
        var recipe = HostSettings.FromConfig(HoconFiles.Load(path).WithFallback(NodeConfig.Defaults())).Recipe;
        Assert.Equal(new OptimizerSettings(OptimizerKind.AdamW, Beta2: 0.95, DecayBiasesAndNorms: false), recipe.Optimizer);
        Assert.Equal((ScheduleShape.Cosine, 50L, 1e-4, 1000L), (recipe.Schedule.Shape, recipe.Schedule.WarmupSteps, recipe.Schedule.MinLr, recipe.Schedule.DecaySteps));
        Assert.Equal((1.0, 8, Precision.Bf16, 100L), (recipe.ClipNorm, recipe.MicroBatchSize, recipe.Precision, recipe.EvalEvery));
    }

    [Fact]
    public void The_parameter_server_example_reads_as_the_bsp_job_it_describes()
    {
        var path = Path.Combine(RepositoryRoot.Find(), "hocon", "examples", "parameter-server.conf");
        var settings = HostSettings.FromConfig(HoconFiles.Load(path).WithFallback(NodeConfig.Defaults()));
        Assert.Equal(new ParameterServerSettings(2, Consistency.Bsp, 0, 0, "node"), settings.Recipe.ParameterServer);
        Assert.Equal((2, 60L), (settings.Ranks, settings.Job.Steps));
    }

    [Theory]
    [InlineData(10, null, new[] { 10 })]
    [InlineData(10, 10, new[] { 10 })]
    [InlineData(10, 4, new[] { 4, 3, 3 })]
    [InlineData(7, 2, new[] { 2, 2, 2, 1 })]
    [InlineData(1, 1, new[] { 1 })]
    public void A_slice_runs_in_passes_as_even_as_can_be_none_above_the_micro_batch_size(int samples, int? size, int[] passes) =>
        Assert.Equal(passes, Replica.Passes(samples, size));
}
