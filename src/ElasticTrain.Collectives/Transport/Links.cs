namespace ElasticTrain.Collectives.Transport;

/// <summary>
/// A rank's sending end of a link to a peer (the ring's right-hand neighbour, the next or the
/// previous pipeline stage). <see cref="Post"/> does not block: the values must stay untouched
/// until <paramref name="tracker"/> says the frame is done (written to the socket, or read by a
/// peer in this process).
/// </summary>
public interface IOutboundLink : IDisposable
{
    void Post(FrameHeader header, ReadOnlyMemory<float> values, SendTracker tracker);
}

/// <summary>
/// A rank's receiving end of a link from a peer (the ring's left-hand neighbour, a neighbouring
/// pipeline stage). <see cref="Receive"/> blocks until the next frame has arrived, checks it is
/// <paramref name="expected"/>, and adds its values to <paramref name="target"/> (reduce) or
/// copies them there (gather).
/// </summary>
public interface IInboundLink : IDisposable
{
    void Receive(FrameHeader expected, Span<float> target, bool add, TimeSpan timeout);
}
