using ElasticTrain.Checkpointing;
using ElasticTrain.Jobs;
using ElasticTrain.Ranks;

namespace ElasticTrain.Coordination;

/// <summary>
/// The parts of one checkpoint as their writers report them: one file from a whole replica, or
/// one per pipeline stage, which <see cref="Commit"/> lists with their hashes in a manifest whose
/// own hash the journal keeps, so the journal pins every part.
/// </summary>
public sealed class CheckpointParts(long step, IReadOnlyList<RankId> writers, IReadOnlyList<string> paths)
{
    private readonly Dictionary<int, CheckpointWritten> _written = [];

    public long Step { get; } = step;

    public bool Complete => _written.Count == writers.Count;

    /// <summary>Records a writer's report; false if it is none of this checkpoint's.</summary>
    public bool Add(CheckpointWritten written)
    {
        var part = paths.ToList().IndexOf(written.Path);
        if (written.Step != Step || part < 0) return false;
        _written[part] = written;
        return true;
    }

    /// <summary>The checkpoint as the journal records it; with several parts, writes their manifest first.</summary>
    public CheckpointRef Commit(CheckpointStore store, string jobId)
    {
        if (!Complete) throw new InvalidOperationException($"checkpoint of step {Step} has {_written.Count} of {writers.Count} parts");
        if (writers.Count == 1) return new CheckpointRef(Step, _written[0].Path, _written[0].Sha256);
        var manifest = store.ManifestPathFor(jobId, Step);
        var parts = Enumerable.Range(0, writers.Count)
            .Select(p => new CheckpointPart(_written[p].Path, _written[p].Sha256, _written[p].Parameters)).ToList();
        return new CheckpointRef(Step, manifest, CheckpointManifest.Write(manifest, _written[0].Metadata, parts));
    }
}
