using ElasticTrain.Jobs;
using ElasticTrain.Ranks;
using ElasticTrain.Wire;

namespace ElasticTrain.Coordination;

/// <summary>What the coordinator journals: its decisions, in the order it made them.</summary>
public interface IJobEvent : IWireMessage;

/// <param name="IdentityHash">See <see cref="JobConfig.IdentityHash"/>: a later run of the job must match it.</param>
public sealed record JobStarted(JobConfig Config, string IdentityHash, string DataFingerprint) : IJobEvent;

/// <summary>A membership change: from now on only messages of this generation count.</summary>
public sealed record GenerationStarted(long Generation, string[] Ranks) : IJobEvent;

/// <param name="Loss">Mean loss over the global batch, before the update.</param>
public sealed record StepCommitted(long Step, double Loss, long Generation, int World) : IJobEvent;

/// <summary>
/// Which rank consumed which sample ids in a step, as the ranks reported them; journaled in one
/// atomic write with the step's <see cref="StepCommitted"/>, so that the sample trace can be
/// completed from the journal when a coordinator dies between a commit and its report (4 bytes
/// per sample per step). Not part of <see cref="JobState"/>: journals written before it existed
/// have none, and the state's snapshots keep their shape.
/// </summary>
public sealed record StepSampled(long Step, RankSamples[] Samples) : IJobEvent;

public sealed record RankSamples(RankId Rank, int[] SampleIds) : IWireMessage;

public sealed record CheckpointTaken(CheckpointRef Checkpoint) : IJobEvent;

public sealed record JobCompleted(long Step) : IJobEvent;
