namespace ElasticTrain.Checkpointing;

/// <summary>
/// One pipeline stage's part of a checkpoint as its <see cref="CheckpointManifest"/> lists it: which
/// file, the SHA-256 that file must have, and the whole-model names of the parameters it holds. The
/// names let a reader open only the parts that hold what it wants; the hash lets the manifest's own
/// hash, which the journal records, pin every part.
/// </summary>
/// <param name="File">The part's file name, in the manifest's folder (relative, so the folder can be moved).</param>
/// <param name="Sha256">What <see cref="CheckpointFile.Write"/> returned for the part (lowercase hex).</param>
/// <param name="Parameters">The parameters whose <see cref="NamedState"/> the part holds.</param>
public sealed record CheckpointPart(string File, string Sha256, IReadOnlyList<string> Parameters);
