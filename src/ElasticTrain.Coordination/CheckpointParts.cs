using ElasticTrain.Checkpointing;
using ElasticTrain.Ranks;

namespace ElasticTrain.Coordination;

/// <summary>
/// The parts of one checkpoint as their writers report them, by the path each was told to write:
/// one file from a whole replica, or one per pipeline stage or parameter shard, which
/// <see cref="Commit"/> lists with their hashes in a manifest whose own hash the journal keeps, so
/// the journal pins every part.
/// </summary>
/// <param name="paths">Where each part is written (<see cref="CheckpointStore.PathFor"/>, or <see cref="CheckpointStore.PartPathFor"/> for each of several).</param>
public sealed class CheckpointParts(long step, IReadOnlyList<string> paths)
{
    private readonly Dictionary<int, (CheckpointPart Part, CheckpointMetadata Metadata)> _written = [];

    public long Step { get; } = step;

    public bool Complete => _written.Count == paths.Count;

    /// <summary>
    /// Records a writer's report of the part at <paramref name="path"/> (a rank's
    /// <c>CheckpointWritten</c> or a shard's <c>ShardCheckpointWritten</c>); false if it is none of
    /// this checkpoint's parts.
    /// </summary>
    /// <param name="parameters">The part's entries: whole parameters' names, or rows of one (<see cref="CheckpointPiece"/>).</param>
    public bool Add(string path, long step, string sha256, CheckpointMetadata metadata, IReadOnlyList<string> parameters)
    {
        var part = paths.ToList().IndexOf(path);
        if (step != Step || part < 0) return false;
        _written[part] = (new CheckpointPart(path, sha256, parameters), metadata);
        return true;
    }

    /// <summary>The checkpoint as the journal records it; with several parts, writes their manifest first.</summary>
    public CheckpointRef Commit(CheckpointStore store, string jobId)
    {
        if (!Complete) throw new InvalidOperationException($"checkpoint of step {Step} has {_written.Count} of {paths.Count} parts");
        if (paths.Count == 1) return new CheckpointRef(Step, paths[0], _written[0].Part.Sha256);
        var manifest = store.ManifestPathFor(jobId, Step);
        var parts = Enumerable.Range(0, paths.Count).Select(p => _written[p].Part).ToList();
        return new CheckpointRef(Step, manifest, CheckpointManifest.Write(manifest, _written[0].Metadata, parts));
    }
}
