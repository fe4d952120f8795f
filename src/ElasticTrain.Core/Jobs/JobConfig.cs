using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Akka.Configuration;
using ElasticTrain.Configuration;
using ElasticTrain.Training;
using ElasticTrain.Wire;

namespace ElasticTrain.Jobs;

/// <summary>
/// What a training job is: the model, the data, the optimizer and the global batch. It is the same
/// for every rank and every process of the job, and is journaled when the job starts.
/// </summary>
/// <param name="Steps">Total optimizer steps; may grow between runs of one job.</param>
/// <param name="CheckpointEvery">Checkpoint period in committed steps; may change between runs.</param>
public sealed record JobConfig(
    string Id,
    string Model,
    int Layers,
    int Heads,
    int Width,
    int Block,
    int GlobalBatch,
    long Steps,
    double LearningRate,
    double WeightDecay,
    long Seed,
    string DataPath,
    int CheckpointEvery) : IWireMessage
{
    public static readonly string[] Models = ["gpt", "mlp"];

    /// <summary>Reads and validates the <c>elastictrain.job</c> section.</summary>
    public static JobConfig FromConfig(Config config)
    {
        var job = new SettingsReader(config, "elastictrain.job");
        var id = job.String("id");
        if (id.Length == 0 || id.Length > 100 || !id.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
            throw new SettingsException($"elastictrain.job.id must be 1-100 letters, digits, '-', '_' or '.', not '{id}'");
        var result = new JobConfig(
            Id: id,
            Model: job.OneOf("model", Models),
            Layers: job.Int("layers", 1, 1024),
            Heads: job.Int("heads", 1, 1024),
            Width: job.Int("width", 1, 65536),
            Block: job.Int("block", 1, 1 << 20),
            GlobalBatch: job.Int("global-batch", 1),
            Steps: job.Long("steps", 1),
            LearningRate: job.Double("learning-rate", 0, 10),
            WeightDecay: job.Double("weight-decay", 0, 10),
            Seed: job.Long("seed"),
            DataPath: job.String("data"),
            CheckpointEvery: job.Int("checkpoint-every", 1));
        if (result.LearningRate <= 0)
            throw new SettingsException($"elastictrain.job.learning-rate must be greater than 0, not {result.LearningRate}");
        if (result.Width % result.Heads != 0)
            throw new SettingsException($"elastictrain.job.width ({result.Width}) must be divisible by heads ({result.Heads})");
        return result;
    }

    /// <summary>
    /// The job's identity: a hash of everything that changes the loss curve (model, data, optimizer,
    /// batch, seed), and of nothing that may change between runs (steps, checkpoint period, ranks).
    /// A job id reused with another identity is refused rather than silently mixed.
    /// </summary>
    /// <param name="recipe">The optimizer, schedule and clipping (null: the defaults), which add to the hash only where they differ from the defaults.</param>
    public string IdentityHash(string dataFingerprint, TrainingRecipe? recipe = null)
    {
        var canonical = string.Join(';',
            $"model={Model}", $"layers={Layers}", $"heads={Heads}", $"width={Width}", $"block={Block}",
            $"global-batch={GlobalBatch}", $"lr={LearningRate.ToString("R", CultureInfo.InvariantCulture)}",
            $"wd={WeightDecay.ToString("R", CultureInfo.InvariantCulture)}", $"seed={Seed}", $"data={dataFingerprint}");
        if (recipe?.Canonical is { Length: > 0 } training) canonical += ";" + training;
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(canonical)))[..16];
    }

    /// <summary>The fields that differ from <paramref name="other"/> in ways <see cref="IdentityHash"/> sees.</summary>
    public IEnumerable<string> IdentityDifferences(JobConfig other)
    {
        if (Model != other.Model) yield return $"model {other.Model} -> {Model}";
        if (Layers != other.Layers) yield return $"layers {other.Layers} -> {Layers}";
        if (Heads != other.Heads) yield return $"heads {other.Heads} -> {Heads}";
        if (Width != other.Width) yield return $"width {other.Width} -> {Width}";
        if (Block != other.Block) yield return $"block {other.Block} -> {Block}";
        if (GlobalBatch != other.GlobalBatch) yield return $"global-batch {other.GlobalBatch} -> {GlobalBatch}";
        if (LearningRate != other.LearningRate) yield return $"learning-rate {other.LearningRate} -> {LearningRate}";
        if (WeightDecay != other.WeightDecay) yield return $"weight-decay {other.WeightDecay} -> {WeightDecay}";
        if (Seed != other.Seed) yield return $"seed {other.Seed} -> {Seed}";
        if (DataPath != other.DataPath) yield return $"data '{other.DataPath}' -> '{DataPath}'";
    }
}
