using ElasticTrain.Checkpointing;
using ElasticTrain.Ranks.Optimization;

namespace ElasticTrain.Ranks;

// A replica's state as checkpoints and state transfer carry it: exported and imported by
// parameter name, written to and restored from the job's checkpoints.
public sealed partial class Replica
{
    /// <summary>The sections of state written before <see cref="NamedState"/>, still read.</summary>
    private const string LegacyModelSection = "model", LegacyOptimizerSection = "optimizer";

    /// <summary>The names of the parameters this replica holds, as the whole model names them.</summary>
    public IReadOnlyList<string> ParameterNames => [.. _model.named_parameters().Select(p => p.name)];

    /// <summary>
    /// The parameters and optimizer state of <paramref name="names"/> (all when null) as byte sections
    /// in the <see cref="NamedState"/> format: what checkpoints and state transfer carry.
    /// </summary>
    /// <exception cref="CheckpointException">A name this replica does not hold.</exception>
    public IReadOnlyDictionary<string, byte[]> ExportState(IEnumerable<string>? names = null) =>
        ModelState.Export(_model, _update.Optimizer, names).ToSections();

    public IReadOnlyList<string> GradientNames => _gradientNames ??= Compression.ResidualTransfer.NamesOf(_gradients, _model);

    private IReadOnlyList<string>? _gradientNames;

    public StateSnapshot Snapshot() => new(_model, _update.Optimizer);

    /// <summary>
    /// Loads state at <paramref name="step"/> for every parameter this replica holds, by name, from
    /// sections that may hold more (a checkpoint of a larger mesh's stage, or of the whole model).
    /// Also reads the sections of checkpoints written before the named format: TorchSharp's
    /// <c>model</c> and <c>optimizer</c> blobs, which only a replica of the very same model reads.
    /// </summary>
    /// <exception cref="CheckpointException">A parameter is missing or has another shape; the message names it.</exception>
    public void ImportState(IReadOnlyDictionary<string, byte[]> sections, long step)
    {
        if (NamedState.IsNamed(sections))
            ModelState.Import(_model, _update.Optimizer, NamedState.FromSections(sections));
        else if (sections.ContainsKey(LegacyModelSection) && sections.ContainsKey(LegacyOptimizerSection) && _update.Optimizer is TorchOptimizer legacy)
            ImportLegacyState(sections, legacy);
        else
            throw new CheckpointException($"the state has neither the named format nor the older '{LegacyModelSection}' and '{LegacyOptimizerSection}' sections (it has {string.Join(", ", sections.Keys)})");
        PendingStep = null;
        AppliedStep = step;
    }

    /// <summary>TorchSharp's own formats: parameters in module order, optimizer state in the optimizer's order.</summary>
    private void ImportLegacyState(IReadOnlyDictionary<string, byte[]> sections, TorchOptimizer optimizer)
    {
        using (var reader = new BinaryReader(new MemoryStream(sections[LegacyModelSection])))
            _model.load(reader);
        using (var reader = new BinaryReader(new MemoryStream(sections[LegacyOptimizerSection])))
            optimizer.LoadTorchState(reader);
    }

    /// <summary>Writes every parameter's values and optimizer state after <paramref name="step"/>, by name; returns the file's SHA-256.</summary>
    public string Save(string path, long step, int world, int epoch) => StateCheckpoint.Save(this, _job, _identityHash, path, step, world, epoch);

    /// <summary>
    /// Loads a checkpoint the journal named, refusing one of another job or identity: a single file,
    /// or a manifest whose parts (written by pipeline stages) together hold the whole model.
    /// </summary>
    public void Restore(CheckpointRef checkpoint) => StateCheckpoint.Restore(this, _job, _identityHash, checkpoint);
}
