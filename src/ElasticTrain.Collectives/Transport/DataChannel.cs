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

    // Planned: pipeline activations between stages, and parameter shards. Each will get its own
    // number here and its own routing in TensorTransport when it is built.
}
