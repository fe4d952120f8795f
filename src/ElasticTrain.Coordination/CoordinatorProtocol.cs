using ElasticTrain.Training;
using ElasticTrain.Jobs;
using ElasticTrain.Wire;

namespace ElasticTrain.Coordination;

/// <summary>A node that joins a running job asks what the job is.</summary>
public sealed record GetJob : IWireMessage
{
    public static readonly GetJob Instance = new();
}

/// <summary>
/// The job as the coordinator runs it: a joining node loads the same data, builds the same model
/// and, should it host the coordinator after a failover, plans the same kind of mesh.
/// </summary>
/// <param name="SecretCheck">
/// A tag derived from the job's data-plane secret (never the secret): a joining node whose own
/// secret gives another tag has another store (or another configured secret), so its ranks could
/// never exchange with the job's; it is refused before it joins. Empty: not checked.
/// </param>
public sealed record JobDescription(JobConfig Config, string IdentityHash, string DataFingerprint, MeshRequest Mesh, TrainingRecipe Recipe,
    string SecretCheck = "") : IWireMessage;

// ---- operators (elastictrain status | drain | scale) ----

public sealed record GetStatus : IWireMessage
{
    public static readonly GetStatus Instance = new();
}

/// <param name="Members">This generation's ranks with the node address each runs on.</param>
/// <param name="Idle">Registered ranks outside the generation (over the scale target, or waiting to join).</param>
/// <param name="TargetRanks">The operator's scale target; 0 when every rank is used.</param>
/// <param name="Mesh">Replicas x stages of this generation (e.g. 2x2); members are listed replica by replica, stages in order.</param>
/// <param name="Loads">Each member's slice of the last step planned and its measured compute speed; empty before the first step.</param>
/// <param name="Shards">Parameter-server mode: where each shard and backup lived as the generation started; null otherwise.</param>
public sealed record JobStatusReport(
    string JobId, long CommittedStep, long TotalSteps, long Generation, RankId[] Members, RankId[] Idle, RankId[] Draining,
    int TargetRanks, double SamplesPerSecond, string Mesh = "", RankLoad[]? Loads = null, ShardPlace[]? Shards = null) : IWireMessage
{
    /// <summary><paramref name="rank"/>'s slice and speed; null before it has had a step.</summary>
    public RankLoad? LoadOf(RankId rank) => Loads?.FirstOrDefault(l => l.Rank == rank);
}

/// <param name="Slice">Samples of the last planned step's global batch the rank computes.</param>
/// <param name="SamplesPerSecond">Its forward and backward speed, smoothed over steps; 0 until measured.</param>
/// <param name="Stage">Its pipeline stage (0 without stages).</param>
public sealed record RankLoad(RankId Rank, int Slice, double SamplesPerSecond, int Stage = 0) : IWireMessage;

/// <summary>A parameter shard or backup: the node that hosts it (HOST:PORT of its cluster address), the bytes of its values, and the updates it applies per second (one per step).</summary>
public sealed record ShardPlace(ElasticTrain.ParameterServer.ShardId Replica, string Node, long Bytes, double UpdatesPerSecond) : IWireMessage;

// ---- the parameter shards' placement ----

/// <summary>
/// Akka's shard coordinator asks before a rebalance round: a replica may move (and start empty
/// elsewhere) only while its sibling holds the job's state, so that the move is a copy and never
/// the loss of both.
/// </summary>
public sealed record AreShardsSettled : IWireMessage
{
    public static readonly AreShardsSettled Instance = new();
}

/// <summary>Whether every replica holds the running generation's state and none is loading one.</summary>
public sealed record ShardsSettled(bool Settled) : IWireMessage;

/// <summary>Move all work off the node at <paramref name="Node"/> (host:port) at the next step boundary and let it leave.</summary>
public sealed record DrainNode(NodeAddress Node) : IWireMessage;

/// <summary>Use at most <paramref name="Ranks"/> ranks (0: all); ranks above it idle, below it are added from idle ones.</summary>
public sealed record ScaleRanks(int Ranks) : IWireMessage;

/// <summary>The answer to an operator's command: what will happen, or why not.</summary>
public sealed record OperatorReply(bool Accepted, string Message) : IWireMessage;

/// <summary>
/// From the coordinator to its parent as it stops at the end of the job: the supervisor that
/// restarts it after journal failures stops too.
/// </summary>
public sealed class CoordinatorEnded
{
    public static readonly CoordinatorEnded Instance = new();
}
