namespace ElasticTrain.Checkpointing;

/// <summary>
/// What a checkpoint is of. Nothing here depends on the number of ranks that wrote it: model and
/// optimizer are replicated, and the data cursor follows from the step (step k has consumed
/// k * global-batch samples of the seeded epoch stream).
/// </summary>
/// <param name="Step">The last step whose update the state includes.</param>
/// <param name="IdentityHash">The job's identity (see JobConfig.IdentityHash); a resume checks it.</param>
/// <param name="SamplesConsumed">Global data cursor: positions of the sample stream consumed so far.</param>
/// <param name="World">Ranks at the time of writing; informational only.</param>
public sealed record CheckpointMetadata(
    string JobId,
    long Step,
    string IdentityHash,
    long SamplesConsumed,
    int Epoch,
    long Seed,
    int World,
    long CreatedUnixMs);
