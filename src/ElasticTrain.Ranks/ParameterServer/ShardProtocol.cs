using ElasticTrain.Checkpointing;
using ElasticTrain.Jobs;
using ElasticTrain.ParameterServer;
using ElasticTrain.Wire;

namespace ElasticTrain.Ranks.ParameterServer;

// A parameter shard's protocol, grouped by direction. Everything here is control: the tensors
// (gradient sums in, values out) travel on the data plane as ShardMessages, never through Akka.
// Every message belongs to a generation; a shard drops (and counts) one of an older generation
// than its own, and a newer one starts that generation there (the step in progress starts again).

/// <summary>A command for one parameter shard, routed by the job's shard region to its entity.</summary>
public interface IShardCommand : IWireMessage
{
    ShardId Shard { get; }
}

// ---- commands to a shard, through the region ----

/// <summary>
/// Take the state of the shard's pieces from <paramref name="Checkpoint"/> (read from the disk the
/// nodes share, not sent through Akka), or from the job's seed at step 0 when it is null, drop
/// anything held, and answer <see cref="ShardLoaded"/>. Until its first load a shard keeps every
/// other command (but status) for after it.
/// </summary>
public sealed record LoadShard(ShardId Shard, long Generation, CheckpointRef? Checkpoint) : IShardCommand;

/// <summary>
/// Send the shard's state after step <paramref name="Step"/> (every piece's values and optimizer
/// state) to its sibling <paramref name="Target"/>, whose node's data plane is
/// <paramref name="TargetDataPlane"/>, as <c>ShardMessage</c>s on <c>DataChannel.ShardState</c>.
/// Answered first with <see cref="ShardStateOffered"/>, which says how to read them; a shard that
/// does not hold that step, or whose sending fails, answers <see cref="ShardStepFailed"/>.
/// </summary>
public sealed record CopyShardState(ShardId Shard, long Generation, long Step, ShardId Target, string TargetDataPlane) : IShardCommand;

/// <summary>
/// Take the state of step <paramref name="Step"/> that the sibling <paramref name="Source"/> sends
/// on the data plane, laid out as <paramref name="Layout"/> says, in place of anything held;
/// answered with <see cref="ShardLoaded"/>, or <see cref="ShardStepFailed"/> (what was held is kept).
/// The sibling sends to the data plane <paramref name="SentTo"/>, where the shard was when it
/// answered the status the copy was planned from: a shard that Sharding has moved since (a
/// rebalance round that began as the generation started) refuses at once, since the state goes to
/// its old node and it would wait out the exchange timeout for a connection that never comes.
/// </summary>
public sealed record ReceiveShardState(ShardId Shard, long Generation, long Step, ShardId Source, PieceLayout[] Layout, string SentTo) : IShardCommand;

/// <summary>
/// What one piece's state holds besides its values, in the order its tensors travel after them:
/// the rule's step count and its slots' names (a slot the rule has not made yet is absent).
/// </summary>
public sealed record PieceLayout(long Step, string[] Slots) : IWireMessage;

/// <summary>
/// Step <paramref name="Step"/> takes a gradient slice from each of <paramref name="Workers"/>,
/// whose samples add up to <paramref name="GlobalBatch"/>. Once every slice has arrived the shard
/// answers the sender (whoever plans the step) with <see cref="ShardSquares"/>.
/// </summary>
/// <param name="LossScale">What the workers multiplied the loss by before backward (fp16; else 1): the mean divides it out.</param>
public sealed record ExpectStep(ShardId Shard, long Generation, long Step, IReadOnlyList<RankId> Workers, int GlobalBatch, double LossScale = 1) : IShardCommand;

/// <summary>
/// <paramref name="Worker"/> has sent its gradient sum over <paramref name="Samples"/> samples
/// for each of the shard's pieces, as <c>ShardMessage</c>s on the data plane to the shard's endpoint.
/// A push is the frames and this message together: a worker that repeats one (a retry) repeats
/// both, and the shard reads the repeated frames and drops them, so a step counts each worker once.
/// </summary>
public sealed record PushGradients(ShardId Shard, long Generation, long Step, RankId Worker, int Samples) : IShardCommand;

/// <summary>
/// LAMB only, once every replica has every slice of step <paramref name="Step"/>: the squared
/// norms of the weights and of the update that the step's mean gradient times
/// <paramref name="ClipCoefficient"/> makes, per parameter the shard holds rows of, without
/// applying it; answered with <see cref="ShardUpdateNorms"/>.
/// </summary>
public sealed record MeasureShardUpdate(ShardId Shard, long Generation, long Step, double ClipCoefficient) : IShardCommand;

/// <summary>
/// Apply step <paramref name="Step"/>: the mean gradient (the slices' sum over the global batch),
/// times <paramref name="ClipCoefficient"/> (from every shard's squares), at
/// <paramref name="LearningRate"/>. Answered with <see cref="ShardApplied"/>.
/// </summary>
/// <param name="Trust">LAMB: every parameter's trust ratio, from every shard's <see cref="ShardUpdateNorms"/>; null for the other rules.</param>
/// <param name="Overflowed">fp16: the step's gradient overflowed somewhere in the model; every shard skips it (its values and optimizer state unchanged) and holds the step.</param>
public sealed record ApplyShardStep(ShardId Shard, long Generation, long Step, double ClipCoefficient, double LearningRate, TrustRatio[]? Trust = null, bool Overflowed = false) : IShardCommand;

/// <summary>
/// Send the shard's values after step <paramref name="Step"/> to <paramref name="Worker"/>, at
/// its node's data plane <paramref name="DataPlane"/> (HOST:PORT), once the shard has applied that
/// step: a worker may ask before it has.
/// </summary>
public sealed record PullShard(ShardId Shard, long Generation, long Step, RankId Worker, string DataPlane) : IShardCommand;

/// <summary>
/// Write the shard's pieces after step <paramref name="Step"/> to <paramref name="Path"/> (on the
/// disk the nodes share), as its part of the checkpoint <paramref name="Metadata"/> describes;
/// answered with <see cref="ShardCheckpointWritten"/>. The shard must hold that step: one at another
/// (an apply still under way included) answers <see cref="ShardStepFailed"/>, as does a failed write.
/// </summary>
public sealed record WriteShardCheckpoint(ShardId Shard, long Generation, long Step, string Path, CheckpointMetadata Metadata) : IShardCommand;

/// <summary>Asks for <see cref="ShardStatus"/>; answered loaded or not.</summary>
public sealed record GetShardStatus(ShardId Shard) : IShardCommand;

/// <summary>Where a worker finds a shard's entity on the data plane: its node's HOST:PORT, under the entity id.</summary>
public sealed record ShardAddress(ShardId Shard, string DataPlane) : IWireMessage;

// ---- replies from a shard ----

/// <summary>The shard holds its pieces after step <paramref name="Step"/>, and takes tensors at <paramref name="DataPlane"/> under its entity id.</summary>
public sealed record ShardLoaded(ShardId Shard, long Generation, long Step, string DataPlane) : IWireMessage;

/// <summary>
/// The shard is sending its state of step <paramref name="Step"/> to <paramref name="Target"/>
/// (<see cref="CopyShardState"/>), each piece laid out as <paramref name="Layout"/> says: what the
/// target's <see cref="ReceiveShardState"/> needs.
/// </summary>
public sealed record ShardStateOffered(ShardId Shard, long Generation, long Step, ShardId Target, PieceLayout[] Layout) : IWireMessage;

/// <summary>The shard's share of the squared norm of step <paramref name="Step"/>'s mean gradient: every slice is in.</summary>
public sealed record ShardSquares(ShardId Shard, long Generation, long Step, double Squares) : IWireMessage;

/// <summary>The squared norms of the update of step <paramref name="Step"/> over the rows the shard holds, per parameter (<see cref="MeasureShardUpdate"/>).</summary>
public sealed record ShardUpdateNorms(ShardId Shard, long Generation, long Step, TensorNorms[] Norms) : IWireMessage;

/// <summary>The shard has applied step <paramref name="Step"/>.</summary>
public sealed record ShardApplied(ShardId Shard, long Generation, long Step) : IWireMessage;

/// <summary>
/// The shard's part of the checkpoint of step <paramref name="Step"/> is written: the file's SHA-256
/// and its entries, for the manifest (<c>CheckpointPart</c>). An entry is a whole parameter's name
/// or the rows the shard holds of one, as <c>fc1.weight[22,39)</c> (<see cref="CheckpointPiece"/>).
/// </summary>
public sealed record ShardCheckpointWritten(
    ShardId Shard, long Generation, long Step, string Path, string Sha256, CheckpointMetadata Metadata, string[] Parameters) : IWireMessage;

/// <summary>
/// A command of step <paramref name="Step"/> could not be carried out (a slice failed to arrive, the
/// samples do not add up, the shard is at another step, a load or a checkpoint's write failed); the shard holds step
/// <paramref name="AppliedStep"/> (-1: nothing), unchanged.
/// </summary>
public sealed record ShardStepFailed(ShardId Shard, long Generation, long Step, string Reason, long AppliedStep) : IWireMessage;

/// <param name="AppliedStep">-1 until loaded.</param>
/// <param name="DroppedStale">Commands of an older generation, dropped.</param>
/// <param name="RepeatedPushes">Pushes of a step already counted, whose frames were read and dropped.</param>
/// <param name="Node">The cluster address (HOST:PORT) of the node hosting the shard.</param>
public sealed record ShardStatus(ShardId Shard, long Generation, long AppliedStep, string DataPlane, long DroppedStale, long RepeatedPushes, string Node = "") : IWireMessage;
