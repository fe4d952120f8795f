using System.Globalization;
using Akka.Configuration;
using ElasticTrain.Configuration;
using ElasticTrain.Jobs;
using ElasticTrain.ParameterServer;

namespace ElasticTrain.Training;

/// <summary>
/// How a job turns each step's mean gradient into an update, beyond what <see cref="JobConfig"/>
/// journals: the optimizer, the learning-rate schedule, global-norm clipping, and how many samples
/// a rank runs at once. Travels with the job to every node (it is the same for all ranks), and
/// enters the job's identity where it changes the math (<see cref="Canonical"/>), so the defaults
/// keep every earlier job's identity and curve.
/// </summary>
/// <param name="ClipNorm">The global gradient norm's ceiling (over the whole model, however it is split); null: no clipping.</param>
/// <param name="MicroBatchSize">
/// The most samples a rank runs through the model at once; a larger slice runs in several passes
/// whose gradients add up (accumulation). Null: the whole slice at once. Not part of the identity:
/// the sum is the same, as it is for any split of the batch among ranks.
/// </param>
/// <param name="Precision">What forward and backward compute in; fp32 master weights and optimizer state whatever it is.</param>
/// <param name="LossScale">fp16's dynamic loss scale; null for fp32 and bf16, which need none.</param>
/// <param name="EvalEvery">
/// Committed steps between evaluations on the held-out windows (and one at the end); null: none,
/// and nothing is held out. When set, the held-out windows leave training, so the split (not the
/// period) enters the identity.
/// </param>
/// <param name="EvalFraction">The share of the windows held out when <paramref name="EvalEvery"/> is set (capped, see HeldOutSplit).</param>
/// <param name="Dropout">
/// The chance that dropout zeroes an activation, in [0, 1); 0: no dropout. Each sample's masks are
/// its own (see ElasticTrain.Models.SampleMasks), so the curve still does not depend on the mesh.
/// </param>
/// <param name="Compression">How gradients travel between replicas; null: none (exact float32 sums).</param>
/// <param name="ParameterServer">
/// The parameter server's shards and consistency when the job runs on one (<c>elastictrain.collective = ps</c>);
/// null: replicas sum their gradients by all-reduce.
/// </param>
/// <param name="Moments">
/// With top-k compression and Adam or AdamW: the dense first steps and the refreshes of Adam's
/// second moment from the ranks' own (<see cref="SecondMomentRefresh"/>); null otherwise.
/// </param>
public sealed record TrainingRecipe(
    OptimizerSettings Optimizer,
    LearningRateSchedule Schedule,
    double? ClipNorm = null,
    int? MicroBatchSize = null,
    Precision Precision = Precision.Fp32,
    LossScaling? LossScale = null,
    long? EvalEvery = null,
    double EvalFraction = TrainingRecipe.DefaultEvalFraction,
    double Dropout = 0,
    CompressionSettings? Compression = null,
    ParameterServerSettings? ParameterServer = null,
    SecondMomentRefresh? Moments = null)
{
    public const double DefaultEvalFraction = 0.01;

    /// <summary>Whether the job holds windows out of training to evaluate on.</summary>
    public bool HoldsOut => EvalEvery is not null;

    /// <summary>How gradients travel (<see cref="CompressionSettings"/>); null reads as none.</summary>
    public CompressionSettings Exchange => Compression ?? CompressionSettings.None;

    /// <summary>Every job before these settings: AdamW at a constant rate, no clipping, the whole slice at once.</summary>
    public static readonly TrainingRecipe Default = new(OptimizerSettings.Default, LearningRateSchedule.Constant);

    /// <summary>Reads <c>elastictrain.job.optimizer</c>, <c>lr-schedule</c>, <c>clip-norm</c>, <c>micro-batch-size</c>, <c>precision</c>, <c>loss-scale</c>, <c>eval-every</c>, <c>eval-fraction</c>, <c>dropout</c> and <c>compression</c>, and <c>elastictrain.ps</c> when <c>elastictrain.collective</c> is ps.</summary>
    /// <exception cref="SettingsException">A bad value; the message names the key.</exception>
    public static TrainingRecipe FromConfig(Config config, JobConfig job)
    {
        var reader = new SettingsReader(config, "elastictrain.job");
        double? clip = reader.String("clip-norm").Trim() is "off" or "" ? null : reader.Double("clip-norm", 0, double.MaxValue);
        if (clip is <= 0)
            throw new SettingsException($"elastictrain.job.clip-norm must be greater than 0, or off, not {clip}");
        var precision = reader.OneOf("precision", "fp32", "bf16", "fp16") switch
        {
            "bf16" => Precision.Bf16,
            "fp16" => Precision.Fp16,
            _ => Precision.Fp32,
        };
        var scaling = new SettingsReader(config, "elastictrain.job.loss-scale");
        var recipe = new TrainingRecipe(
            OptimizerSettings.FromConfig(config),
            LearningRateSchedule.FromConfig(config, job.Steps, job.LearningRate),
            clip,
            reader.AutoInt("micro-batch-size", 1, int.MaxValue),
            precision,
            precision == Precision.Fp16
                ? new LossScaling(scaling.Double("initial", 1, 1e30), scaling.Int("growth-interval", 1))
                : null,
            reader.String("eval-every").Trim() is "off" or "" ? null : reader.Long("eval-every", 1, long.MaxValue),
            EvalFractionOf(reader),
            ReadDropout(reader),
            config.HasPath(CompressionSettings.Key) ? CompressionSettings.Parse(config.GetString(CompressionSettings.Key)) : null,
            config.GetString("elastictrain.collective") == ParameterServerSettings.Collective ? ParameterServerSettings.FromConfig(config) : null);
        if (recipe.ParameterServer is not null) RefuseWhatShardsCannotRun(recipe);
        if (recipe.Exchange.Kind == CompressionKind.TopK && recipe.Optimizer.Kind is OptimizerKind.Adam or OptimizerKind.AdamW)
            recipe = recipe with { Moments = SecondMomentRefresh.FromConfig(config) };
        return recipe;
    }

    /// <summary>What a parameter server's shards cannot do (yet), each refused with the keys that clash.</summary>
    private static void RefuseWhatShardsCannotRun(TrainingRecipe recipe)
    {
        const string mode = "elastictrain.collective = ps";
        // Workers push their gradients to the shards whole; the compressors and their residuals
        // live in the all-reduce's exchange.
        if (!recipe.Exchange.IsNone)
            throw new SettingsException($"{CompressionSettings.Key} must be none with {mode}, not '{recipe.Exchange.Canonical}'");
        // A step's loss scale follows from the overflows of the steps before it, which a worker
        // computing ahead of their commits cannot know yet.
        if (recipe.Precision == Precision.Fp16 && recipe.ParameterServer!.Consistency != Consistency.Bsp)
            throw new SettingsException($"elastictrain.job.precision fp16 needs elastictrain.ps.consistency bsp with {mode}: a step computed ahead cannot know the loss scale the overflows before it set; use bsp, or fp32 or bf16");
    }

    private static double EvalFractionOf(SettingsReader reader)
    {
        var fraction = reader.Double("eval-fraction", 0, 1);
        if (fraction is <= 0 or > 0.5)
            throw new SettingsException($"elastictrain.job.eval-fraction must be greater than 0 and at most 0.5, not {fraction.ToString(CultureInfo.InvariantCulture)}");
        return fraction;
    }

    /// <summary>The loss scale of <paramref name="step"/> given the steps before it that overflowed; 1 without fp16.</summary>
    public double LossScaleAt(long step, IEnumerable<long> overflows) => LossScale?.ScaleAt(step, overflows) ?? 1;

    /// <summary>
    /// The part of the job's identity these settings add: empty for <see cref="Default"/>'s math,
    /// so that every job started before them keeps its identity hash.
    /// </summary>
    public string Canonical
    {
        get
        {
            var parts = new List<string>();
            if (Optimizer.Canonical != OptimizerSettings.Default.Canonical) parts.Add($"optimizer={Optimizer.Canonical}");
            if (!Schedule.IsConstant) parts.Add($"lr-schedule={Schedule.Canonical}");
            if (ClipNorm is { } clip) parts.Add($"clip-norm={clip.ToString("R", CultureInfo.InvariantCulture)}");
            if (Precision != Precision.Fp32) parts.Add($"precision={Precision.ToString().ToLowerInvariant()}");
            if (LossScale is { } scale) parts.Add($"loss-scale={scale.Initial.ToString("R", CultureInfo.InvariantCulture)},{scale.GrowthInterval}");
            // The windows held out are not trained on; how often they are evaluated changes nothing.
            if (HoldsOut) parts.Add($"eval-fraction={EvalFraction.ToString("R", CultureInfo.InvariantCulture)}");
            if (Dropout > 0) parts.Add($"dropout={Dropout.ToString("R", CultureInfo.InvariantCulture)}");
            if (!Exchange.IsNone) parts.Add($"compression={Exchange.Canonical}");
            if (Moments is { } moments) parts.Add($"topk={moments.Canonical}");
            // bsp applies each step once every gradient of it is in: all-reduce's curve, and its identity.
            if (ParameterServer is { Consistency: not Consistency.Bsp } ps) parts.Add($"consistency={ps.Canonical}");
            return string.Join(';', parts);
        }
    }

    /// <summary>One line for the start of a job: what differs from the defaults, or nothing.</summary>
    public string Describe()
    {
        var parts = new List<string>();
        if (Optimizer.Canonical != OptimizerSettings.Default.Canonical) parts.Add(Optimizer.Name);
        if (!Schedule.IsConstant) parts.Add(Schedule.WarmupSteps > 0 ? $"{Schedule.Name} lr after {Schedule.WarmupSteps} warmup steps" : $"{Schedule.Name} lr");
        if (ClipNorm is { } clip) parts.Add($"clip {clip.ToString(CultureInfo.InvariantCulture)}");
        if (MicroBatchSize is { } size) parts.Add($"micro-batch {size}");
        if (Precision != Precision.Fp32) parts.Add(Precision.ToString().ToLowerInvariant());
        if (EvalEvery is { } every) parts.Add($"eval every {every} steps on {EvalFraction.ToString(CultureInfo.InvariantCulture)} of the windows held out");
        if (Dropout > 0) parts.Add($"dropout {Dropout.ToString(CultureInfo.InvariantCulture)}");
        if (!Exchange.IsNone) parts.Add($"{Exchange.Canonical} gradients");
        if (Moments is { } m) parts.Add($"dense for {m.DenseSteps} steps, Adam's second moment from the ranks' own every {m.Every}");
        if (ParameterServer is { } ps) parts.Add(ps.Describe());
        return string.Join(", ", parts);
    }

    /// <summary><c>dropout</c>: a probability below 1 (1 would zero every activation).</summary>
    private static double ReadDropout(SettingsReader reader)
    {
        var p = reader.Double("dropout", 0, 1);
        if (p >= 1) throw new SettingsException($"elastictrain.job.dropout must be at least 0 and below 1, not {p}");
        return p;
    }
}
