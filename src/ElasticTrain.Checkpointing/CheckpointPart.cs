namespace ElasticTrain.Checkpointing;

/// <summary>
/// One pipeline stage's or parameter shard's part of a checkpoint as its <see cref="CheckpointManifest"/>
/// lists it: which file, the SHA-256 that file must have, and the whole-model names of the parameters
/// it holds, or of those it holds rows of (<see cref="CheckpointPiece"/>). The
/// names let a reader open only the parts that hold what it wants; the hash lets the manifest's own
/// hash, which the journal records, pin every part.
/// </summary>
/// <param name="File">The part's file name, in the manifest's folder (relative, so the folder can be moved).</param>
/// <param name="Sha256">What <see cref="CheckpointFile.Write"/> returned for the part (lowercase hex).</param>
/// <param name="Parameters">
/// The entries of the part's <see cref="NamedState"/>: a whole parameter's name (<c>fc1.bias</c>), or
/// a piece's text (<c>fc1.weight[22,39)</c>), whose section holds those rows only.
/// </param>
public sealed record CheckpointPart(string File, string Sha256, IReadOnlyList<string> Parameters);
