using ElasticTrain.Collectives.Transport;

namespace ElasticTrain.Collectives;

/// <summary>
/// Names one tensor that <see cref="PointToPoint"/> carries between two named endpoints: the
/// generation whose links it travels on, the channel (its own connection), and the header of each
/// of its frames. Both ends derive the name from their own plan, so a tensor of another step,
/// piece or length fails the receive at its first frame instead of landing in the wrong buffer.
/// </summary>
/// <remarks>
/// Implemented by value types (<see cref="StageMessage"/>, <see cref="ShardMessage"/>), which
/// <see cref="PointToPoint"/> takes as generic arguments, so naming a frame costs no allocation.
/// </remarks>
public interface IPointToPointMessage
{
    long Generation { get; }

    DataChannel Channel { get; }

    /// <summary>
    /// The header of part <paramref name="part"/> (<paramref name="count"/> values) of a tensor of
    /// <paramref name="total"/> values. The generation is the link's (named in its hello).
    /// </summary>
    FrameHeader Frame(int part, int count, int total);
}
