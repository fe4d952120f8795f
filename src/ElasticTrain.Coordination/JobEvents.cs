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

/// <summary>
/// Under fp16, the step's gradient overflowed (an inf or NaN somewhere in the model): every rank
/// skipped its update, and the loss scale of the steps after it halves. Journaled in one write with
/// the step's <see cref="StepCommitted"/>; the loss scale of any step is a pure function of these
/// (<see cref="Training.LossScaling.ScaleAt"/>).
/// </summary>
/// <param name="LossScale">The scale the step ran at, for the record.</param>
public sealed record GradientOverflowed(long Step, double LossScale) : IJobEvent;

public sealed record JobCompleted(long Step) : IJobEvent;
