using Akka.Actor;
using ElasticTrain.Jobs;
using ElasticTrain.Ranks.Pipeline;
using ElasticTrain.Wire;

namespace ElasticTrain.Ranks;

// The rank's protocol, grouped by direction. Every message that belongs to a generation carries
// it; a rank drops (and counts) anything from a generation other than its current one.

// ---- to the coordinator, unsolicited ----

/// <summary>
/// A rank announces itself, and again every few seconds so that a coordinator that moved to
/// another node (failover) learns of it; the coordinator watches it and counts it into the next
/// generation. <paramref name="StateStep"/> is the step its replica holds, -1 if none;
/// <paramref name="DataPlane"/> is where its node takes gradient bytes (HOST:PORT);
/// <paramref name="Held"/> the layers its state holds (null: none); <paramref name="Memory"/> what
/// it may hold, in bytes (<c>elastictrain.parallel.rank-memory</c>), for the mesh planner.
/// </summary>
public sealed record RegisterRank(RankId Rank, IActorRef Endpoint, long StateStep, string DataPlane, LayerRange? Held, long Memory) : IWireMessage;

// ---- commands from the coordinator ----

/// <summary>
/// Start generation <paramref name="Generation"/> with these members, in the place
/// <paramref name="Mesh"/> gives this rank. The rank drops any update it has not applied, sends the
/// state of the layers <paramref name="Sends"/> asks for to those members (from the state it holds
/// now, before anything changes), brings the layers of its new place to <paramref name="StateStep"/>
/// the way <paramref name="Sources"/> say (joiners copy from live peers, not from disk), and
/// answers <see cref="RankReady"/>.
/// </summary>
/// <param name="Sources">The rank's new layers, in order, each range with where its state comes from.</param>
/// <param name="ResidualsFrom">Ranks leaving the mesh by plan whose compression residuals this rank takes over
/// (<see cref="HandOffResiduals"/>): it waits for them as for state.</param>
public sealed record PrepareRank(
    long Generation, IReadOnlyList<RankEndpoint> Members, MeshLayout Mesh, IReadOnlyList<LayerSource> Sources, long StateStep,
    IReadOnlyList<StateSend> Sends, IReadOnlyList<RankId>? ResidualsFrom = null) : IWireMessage;

/// <summary>Where a member takes the state of <paramref name="Layers"/> from.</summary>
public sealed record LayerSource(LayerRange Layers, StateOrigin Origin) : IWireMessage;

/// <summary>Send the state of <paramref name="Layers"/> to <paramref name="To"/>.</summary>
public sealed record StateSend(RankId To, LayerRange Layers) : IWireMessage;

/// <summary>Where a member of a new generation takes some of its model and optimizer state from.</summary>
public abstract record StateOrigin : IWireMessage;

/// <summary>Its state in memory is already at the generation's state step and holds these layers: keep them.</summary>
public sealed record KeepState : StateOrigin;

/// <summary>Build the model from the job's seed (state step 0).</summary>
public sealed record InitFromSeed : StateOrigin;

/// <summary>Load the checkpoint the journal names.</summary>
public sealed record LoadCheckpoint(CheckpointRef Checkpoint) : StateOrigin;

/// <summary>Receive the state as <see cref="StateChunk"/>s from a live peer.</summary>
public sealed record CopyFromPeer(RankId Peer) : StateOrigin;

/// <summary>
/// Parameter-server mode: the shards hold the state (values and optimizer slots); pull their values
/// at the generation's state step from each of <paramref name="Shards"/>, and push to them each step.
/// </summary>
public sealed record PullShards(IReadOnlyList<ParameterServer.ShardAddress> Shards) : StateOrigin;

/// <summary>
/// To a live rank outside a new generation (being drained, or idle) whose state holds
/// <paramref name="Step"/>: send the state of these layers to these members of generation <paramref name="Generation"/>.
/// </summary>
public sealed record ServeState(long Generation, long Step, IReadOnlyList<ServeTarget> Targets) : IWireMessage;

public sealed record ServeTarget(RankEndpoint To, LayerRange Layers) : IWireMessage;

/// <summary>
/// To a rank leaving the mesh by plan (drained, or idle after a scale-down) whose part holds
/// <paramref name="Step"/>: send the error-feedback residuals of its compression to <paramref name="To"/>,
/// a member of generation <paramref name="Generation"/>, and forget them; then, if given, take
/// <paramref name="Then"/> as from the coordinator (a drained rank's end comes after its hand-off).
/// </summary>
public sealed record HandOffResiduals(long Generation, long Step, RankEndpoint To, JobOver? Then) : IWireMessage;

/// <summary>One piece of some layers' state on its way from the source rank <paramref name="From"/> to a member.</summary>
/// <param name="Residuals">A piece of a <see cref="HandOffResiduals"/>, not of state.</param>
public sealed record StateChunk(long Generation, long Step, RankId From, int Index, int Count, byte[] Bytes, bool Residuals = false) : IWireMessage;

/// <summary>A member of a generation: its job-wide name, its actor, and its node's data-plane address.</summary>
public sealed record RankEndpoint(RankId Rank, IActorRef Endpoint, string DataPlane) : IWireMessage;

/// <summary>Compute a step's slice and join its exchange. <paramref name="Next"/> lets the loader prefetch.</summary>
/// <param name="LossScale">fp16's loss scale for the step (1 otherwise), which the coordinator derives from the journal.</param>
public sealed record RunStep(long Generation, StepPlan Plan, StepPlan? Next, double LossScale = 1) : IWireMessage;

/// <summary>
/// The step is committed: apply its exchanged gradient. Until this arrives a rank holds the update,
/// so a failure before the commit leaves every survivor at the last committed step. With
/// <paramref name="PeerCopy"/> (pipelines without a second replica), the rank then keeps a snapshot
/// of its stage at this step and sends a copy to the next stage's rank (<see cref="PeerCopyChunk"/>).
/// </summary>
/// <param name="GradientSquares">The squared norm of the whole model's mean gradient for the step, summed over the stages' reports: what clipping scales by.</param>
public sealed record ApplyStep(long Generation, long Step, bool PeerCopy = false, double GradientSquares = 0) : IWireMessage;

/// <summary>One piece of a stage's state at <paramref name="Step"/>, on its way to the rank that keeps a copy of it.</summary>
public sealed record PeerCopyChunk(long Generation, long Step, RankId From, LayerRange Layers, int Index, int Count, byte[] Bytes) : IWireMessage;

/// <summary>
/// The copy round of <paramref name="Step"/> is complete: every stage is held by its own rank and
/// by its neighbour at that step; older snapshots and copies may go.
/// </summary>
public sealed record CopiesComplete(long Generation, long Step) : IWireMessage;

/// <summary>
/// The job is over (finished or failed), or this rank was drained; the rank's node may leave.
/// Ranks ignore it from a coordinator behind their <paramref name="Generation"/>: one that lost
/// its place (paused, cut off) must never end a job that went on without it.
/// </summary>
public sealed record JobOver(string JobId, long Generation, bool Finished, string? Reason) : IWireMessage;

/// <summary>Write the replica's state after <paramref name="Step"/> to <paramref name="Path"/>.</summary>
public sealed record WriteCheckpoint(long Generation, long Step, string Path, int World) : IWireMessage;

/// <summary>Ask for a <see cref="RankStatus"/>.</summary>
public sealed record GetRankStatus : IWireMessage
{
    public static readonly GetRankStatus Instance = new();
}

/// <summary>
/// From the rank's own node, before it leaves: answered with <see cref="QueuedWorkDone"/> once the
/// work queued on the rank's compute thread before it has run (a drained rank's last state sends).
/// Local only: it never crosses the network.
/// </summary>
public sealed record FinishQueuedWork
{
    public static readonly FinishQueuedWork Instance = new();
}

public sealed record QueuedWorkDone
{
    public static readonly QueuedWorkDone Instance = new();
}

// ---- replies to the coordinator ----

/// <param name="StateStep">The step the rank's state is at: every update up to it applied.</param>
public sealed record RankReady(long Generation, RankId Rank, long StateStep) : IWireMessage;

/// <summary>The rank's gradients for the step are exchanged; the update waits for <see cref="ApplyStep"/>.</summary>
/// <param name="LossSum">Sum over the slice's samples of each sample's mean token loss.</param>
/// <param name="ComputeMs">Forward and backward, for load balancing.</param>
/// <param name="ExchangeMs">Time spent all-reducing the step's buckets (mostly hidden behind backward).</param>
/// <param name="ExposedMs">Time the step waited on the exchange after backward ended.</param>
/// <param name="SampleIds">The windows of the rank's slice (a pipeline's first stage consumes them), for the sample trace.</param>
/// <param name="SpanMs">A pipeline stage's time from the step's start to its last action; 0 for a whole replica.</param>
/// <param name="WaitMs">The part of the span a pipeline stage waited for its neighbours: its share of the bubble.</param>
/// <param name="PeakHeldBytes">The most bytes of activations a pipeline stage held for backward at once.</param>
/// <param name="BytesSent">Bytes the rank's gradient exchange posted to its links for the step (frame headers included).</param>
/// <param name="GradientSquares">The rank's share of the squared norm of the step's mean gradient: the whole model's for a replica, its layers' for a pipeline stage.</param>
/// <param name="BasedOn">The step whose values the gradient was computed on: the step before, but for a parameter server's workers that run ahead (ssp, asp); -1: not told.</param>
public sealed record StepExchanged(long Generation, long Step, RankId Rank, double LossSum, int[] SampleIds, double ComputeMs, double ExchangeMs, double ExposedMs,
    double SpanMs = 0, double WaitMs = 0, long PeakHeldBytes = 0, double GradientSquares = 0, long BytesSent = 0, long BasedOn = -1) : IWireMessage
{
    public int Samples => SampleIds.Length;
}

/// <summary>The step could not complete on this rank (exchange failed, bad data); the coordinator re-plans.</summary>
/// <param name="StateStep">The step the rank's state is at now (null: none), which the coordinator's picture may
/// have run ahead of: it counts a committed step as applied before the rank has applied it.</param>
public sealed record StepFailed(long Generation, long Step, RankId Rank, string Reason, long? StateStep = null) : IWireMessage;

/// <summary>A checkpoint, or a stage's part of one, is written: what its manifest lists of it.</summary>
public sealed record CheckpointWritten(long Generation, long Step, string Path, string Sha256, Checkpointing.CheckpointMetadata Metadata, string[] Parameters) : IWireMessage;

/// <summary>The rank <paramref name="Holder"/> now keeps a copy of <paramref name="Layers"/> at <paramref name="Step"/> (and its own stage's snapshot there).</summary>
public sealed record CopyHeld(long Generation, long Step, RankId Holder, LayerRange Layers) : IWireMessage;

public sealed record CheckpointFailed(long Generation, long Step, string Reason) : IWireMessage;

/// <param name="DroppedStale">Messages dropped because they belonged to another generation.</param>
/// <param name="ResidualTotal">The sum of every value of the rank's compression residuals (0 without): what a hand-off moves.</param>
public sealed record RankStatus(RankId Rank, long Generation, long DroppedStale, double ResidualTotal = 0) : IWireMessage;

/// <summary>A checkpoint as the journal records it: where, and the SHA-256 it must have.</summary>
public sealed record CheckpointRef(long Step, string Path, string Sha256) : IWireMessage;
