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

public sealed record CheckpointTaken(CheckpointRef Checkpoint) : IJobEvent;

public sealed record JobCompleted(long Step) : IJobEvent;
