namespace ElasticTrain.Collectives.Transport;

/// <summary>
/// What a data-plane connection carries, named in its hello. The listener refuses a channel it does
/// not know, so a peer of a later version that opens a new kind of traffic fails at the handshake
/// instead of being read as gradients. Values are on the wire: never renumber, only add.
/// </summary>
public enum DataChannel : ushort
{
    /// <summary>Gradient frames of the ring all-reduce (<see cref="RingAllReduce"/>).</summary>
    RingAllReduce = 0,

    /// <summary>A pipeline stage's output activations, to the next stage (<see cref="PointToPoint"/>, <see cref="PipelinePass.Forward"/>).</summary>
    Activations = 1,

    /// <summary>
    /// The gradient of a stage's input activations, to the previous stage (<see cref="PointToPoint"/>,
    /// <see cref="PipelinePass.Backward"/>). Apart from <see cref="Activations"/> so that each pass
    /// is its own ordered stream: in a straight pipeline a direction between two ranks carries one
    /// pass only, so this costs no extra connection, and were a pair ever to carry both one way
    /// (interleaved stages), a receive of one pass could not be stuck behind frames of the other.
    /// </summary>
    ActivationGradients = 2,

    /// <summary>
    /// A worker's gradient sums for a parameter shard's pieces, to the shard's entity
    /// (<see cref="PointToPoint"/>, <see cref="ShardMessage"/>).
    /// </summary>
    ShardGradients = 3,

    /// <summary>
    /// A parameter shard's current values, to a worker that pulled them. Apart from
    /// <see cref="ShardGradients"/> so that a frame sent one way can never be read as the other.
    /// </summary>
    ShardValues = 4,

    /// <summary>
    /// A parameter shard's whole state (each piece's values, then its optimizer slots), to its
    /// sibling that lost its own (<see cref="PointToPoint"/>, <see cref="ShardMessage"/>).
    /// </summary>
    ShardState = 5,
}
