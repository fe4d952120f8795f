using System.Globalization;
using Akka.Configuration;
using ElasticTrain.Configuration;
using ElasticTrain.Jobs;

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
public sealed record TrainingRecipe(
    OptimizerSettings Optimizer,
    LearningRateSchedule Schedule,
    double? ClipNorm = null,
    int? MicroBatchSize = null,
    CompressionSettings? Compression = null)
{
    /// <summary>How gradients travel (<see cref="CompressionSettings"/>); null reads as none.</summary>
    public CompressionSettings Exchange => Compression ?? CompressionSettings.None;

    /// <summary>Every job before these settings: AdamW at a constant rate, no clipping, the whole slice at once.</summary>
    public static readonly TrainingRecipe Default = new(OptimizerSettings.Default, LearningRateSchedule.Constant);

    /// <summary>Reads <c>elastictrain.job.optimizer</c>, <c>lr-schedule</c>, <c>clip-norm</c>, <c>micro-batch-size</c> and <c>compression</c>.</summary>
    /// <exception cref="SettingsException">A bad value; the message names the key.</exception>
    public static TrainingRecipe FromConfig(Config config, JobConfig job)
    {
        var reader = new SettingsReader(config, "elastictrain.job");
        double? clip = reader.String("clip-norm").Trim() is "off" or "" ? null : reader.Double("clip-norm", 0, double.MaxValue);
        if (clip is <= 0)
            throw new SettingsException($"elastictrain.job.clip-norm must be greater than 0, or off, not {clip}");
        return new TrainingRecipe(
            OptimizerSettings.FromConfig(config),
            LearningRateSchedule.FromConfig(config, job.Steps, job.LearningRate),
            clip,
            reader.AutoInt("micro-batch-size", 1, int.MaxValue),
            config.HasPath(CompressionSettings.Key) ? CompressionSettings.Parse(config.GetString(CompressionSettings.Key)) : null);
    }

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
            if (!Exchange.IsNone) parts.Add($"compression={Exchange.Canonical}");
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
        if (!Exchange.IsNone) parts.Add($"{Exchange.Canonical} gradients");
        return string.Join(", ", parts);
    }
}
