using ElasticTrain.Collectives.Transport;

namespace ElasticTrain.Collectives;

/// <summary>
/// Names one piece's tensor between a worker and a parameter shard: a worker's gradient sum for
/// piece <see cref="Piece"/> of shard <see cref="Shard"/> in step <see cref="Step"/>
/// (<see cref="DataChannel.ShardGradients"/>), or the shard's values of that piece after step
/// <see cref="Step"/> (<see cref="DataChannel.ShardValues"/>), or its values and optimizer slots
/// after that step, one after the other, to its sibling (<see cref="DataChannel.ShardState"/>).
/// Each piece travels as its own tensor, so neither end ever copies pieces into or out of one buffer.
/// </summary>
public readonly record struct ShardMessage : IPointToPointMessage
{
    /// <exception cref="ArgumentOutOfRangeException">
    /// A generation below 1 (the data plane's hello demands it), a negative step, shard or piece, or
    /// a channel that is not one of the shard channels.
    /// </exception>
    public ShardMessage(long generation, long step, int shard, int piece, DataChannel channel)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(generation, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(step);
        ArgumentOutOfRangeException.ThrowIfNegative(shard);
        ArgumentOutOfRangeException.ThrowIfNegative(piece);
        if (channel is not (DataChannel.ShardGradients or DataChannel.ShardValues or DataChannel.ShardState))
            throw new ArgumentOutOfRangeException(nameof(channel), channel, "A shard's tensors travel on the shard channels (gradients, values, state).");
        Generation = generation;
        Step = step;
        Shard = shard;
        Piece = piece;
        Channel = channel;
    }

    public long Generation { get; }

    public long Step { get; }

    public int Shard { get; }

    /// <summary>The piece's index among the shard's (<c>ShardPlan.PiecesOf</c>).</summary>
    public int Piece { get; }

    public DataChannel Channel { get; }

    /// <summary>
    /// The data plane's one frame layout, field for field: step, piece as the bucket, shard as the
    /// phase, the total as the round, part, count. The shard makes a frame meant for another shard's
    /// entity fail; the total, ends that disagree on the piece's length.
    /// </summary>
    public FrameHeader Frame(int part, int count, int total) => new(Step, Piece, Shard, total, part, count);

    public override string ToString() =>
        $"{Channel switch { DataChannel.ShardGradients => "gradients", DataChannel.ShardValues => "values", _ => "state" }} of piece {Piece} of shard {Shard} (step {Step}, generation {Generation})";
}
