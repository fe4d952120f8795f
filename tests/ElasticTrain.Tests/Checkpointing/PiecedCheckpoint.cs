using ElasticTrain.Checkpointing;

namespace ElasticTrain.Tests.Checkpointing;

/// <summary>
/// A checkpoint of four parameters written by hand as parameter shards would write it: one
/// parameter in two row pieces, one in three (two of them in one part), two whole. Shared by the
/// tests of the reader's joining and of what it refuses.
/// </summary>
internal sealed class PiecedCheckpoint
{
    public static readonly CheckpointMetadata Metadata = CheckpointParts.Metadata;

    public static readonly NamedState State = new([Whole("a.weight", 1, 5, 3), Whole("b.weight", 2, 6, 2), Whole("c.bias", 3, 4), Whole("d.weight", 4, 2, 2)]);

    /// <summary>Each part's entries, as its manifest lists them.</summary>
    public static readonly string[][] Entries = [["a.weight[0,2)", "b.weight[0,1)"], ["a.weight[2,5)", "c.bias"], ["b.weight[4,6)", "b.weight[1,4)", "d.weight"]];

    /// <param name="alter">Applied to each entry's state before it is written: how a test spoils one.</param>
    public PiecedCheckpoint(CheckpointStore store, Func<ParameterState, ParameterState>? alter = null)
    {
        Parts = [.. Entries.Select((entries, part) =>
        {
            var path = store.PartPathFor(Metadata.JobId, Metadata.Step, part, Entries.Length);
            var states = entries.Select(e => (alter ?? (s => s))(StateOf(e)));
            return new CheckpointPart(path, CheckpointFile.Write(path, Metadata, new NamedState(states).ToSections()), entries);
        })];
        Manifest = store.ManifestPathFor(Metadata.JobId, Metadata.Step);
        Sha256 = CheckpointManifest.Write(Manifest, Metadata, Parts);
    }

    public IReadOnlyList<CheckpointPart> Parts { get; }

    public string Manifest { get; }

    public string Sha256 { get; }

    /// <summary>An entry's state as its part holds it: a whole parameter's, or the piece's rows of it under the piece's text.</summary>
    public static ParameterState StateOf(string entry)
    {
        if (CheckpointPiece.Parse(entry) is not { } piece) return State[entry];
        TensorBytes Rows(TensorBytes tensor)
        {
            var rowBytes = tensor.Data.Length / tensor.Shape[0];
            return tensor with { Shape = [piece.Rows, .. tensor.Shape[1..]], Data = tensor.Data[(int)(piece.FirstRow * rowBytes)..(int)(piece.EndRow * rowBytes)] };
        }
        var whole = State[piece.Parameter];
        return whole with { Name = entry, Value = Rows(whole.Value), Slots = [.. whole.Slots.Select(s => s with { Tensor = Rows(s.Tensor) })] };
    }

    private static ParameterState Whole(string name, int seed, params long[] shape) =>
        new(name, CheckpointParts.Tensor(seed, shape), 40 + seed, CheckpointParts.Tensor(seed + 10, shape), CheckpointParts.Tensor(seed + 20, shape));
}
