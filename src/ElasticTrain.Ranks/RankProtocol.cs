using Akka.Actor;
using ElasticTrain.Jobs;
using ElasticTrain.Wire;

namespace ElasticTrain.Ranks;

// The rank's protocol, grouped by direction. Every message that belongs to a generation carries
// it; a rank drops (and counts) anything from a generation other than its current one.

// ---- to the coordinator, unsolicited ----

/// <summary>A rank announces itself; the coordinator watches it and counts it into the next generation.</summary>
public sealed record RegisterRank(string Rank, IActorRef Endpoint) : IWireMessage;

// ---- commands from the coordinator ----

/// <summary>
/// Start generation <paramref name="Generation"/> with this ring. The rank loads the given
/// checkpoint, or initializes from the job's seed when there is none, and answers <see cref="RankReady"/>.
/// </summary>
public sealed record PrepareRank(long Generation, IReadOnlyList<RankEndpoint> Members, CheckpointRef? Restore) : IWireMessage;

/// <summary>A member of a generation: its job-wide name and where to reach it.</summary>
public sealed record RankEndpoint(string Rank, IActorRef Endpoint) : IWireMessage;

/// <summary>Compute a step's slice and join its exchange. <paramref name="Next"/> lets the loader prefetch.</summary>
public sealed record RunStep(long Generation, StepPlan Plan, StepPlan? Next) : IWireMessage;

/// <summary>Write the replica's state after <paramref name="Step"/> to <paramref name="Path"/>.</summary>
public sealed record WriteCheckpoint(long Generation, long Step, string Path, int World) : IWireMessage;

/// <summary>Ask for a <see cref="RankStatus"/>.</summary>
public sealed record GetRankStatus : IWireMessage
{
    public static readonly GetRankStatus Instance = new();
}

// ---- replies to the coordinator ----

public sealed record RankReady(long Generation, string Rank) : IWireMessage;

/// <param name="LossSum">Sum over the slice's samples of each sample's mean token loss.</param>
/// <param name="ComputeMs">Forward and backward, for load balancing.</param>
/// <param name="ExchangeMs">Time blocked in the gradient exchange.</param>
public sealed record StepDone(long Generation, long Step, string Rank, double LossSum, int Samples, double ComputeMs, double ExchangeMs) : IWireMessage;

/// <summary>The step could not complete on this rank (exchange failed, bad data); the coordinator re-plans.</summary>
public sealed record StepFailed(long Generation, long Step, string Rank, string Reason) : IWireMessage;

public sealed record CheckpointWritten(long Generation, long Step, string Path, string Sha256) : IWireMessage;

public sealed record CheckpointFailed(long Generation, long Step, string Reason) : IWireMessage;

/// <param name="DroppedStale">Messages dropped because they belonged to another generation.</param>
public sealed record RankStatus(string Rank, long Generation, long DroppedStale) : IWireMessage;

/// <summary>A checkpoint as the journal records it: where, and the SHA-256 it must have.</summary>
public sealed record CheckpointRef(long Step, string Path, string Sha256) : IWireMessage;
