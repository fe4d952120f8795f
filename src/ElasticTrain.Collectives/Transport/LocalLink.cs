using System.Numerics.Tensors;

namespace ElasticTrain.Collectives.Transport;

/// <summary>
/// A link between two ranks of one process, without copies: the sender posts a view of its own
/// buffer and the receiver adds or copies straight from it. The ring's order makes this safe: a
/// region a member has sent is not written again before the receiver has read it (it waits for the
/// sum the receiver helps make), and the exchange only returns once all its frames are read.
/// Pipeline stages keep the same promise by <see cref="PointToPoint"/>'s buffer-ownership rule.
/// </summary>
public sealed class LocalLink : IOutboundLink, IInboundLink
{
    private readonly PostedFrames _frames;
    private readonly string _description;

    public LocalLink(string description)
    {
        _description = description;
        _frames = new PostedFrames(description);
    }

    public void Post(FrameHeader header, ReadOnlyMemory<float> values, SendTracker tracker) => _frames.Post(header, values, tracker);

    public void Receive(FrameHeader expected, Span<float> target, bool add, TimeSpan timeout)
    {
        if (!_frames.TryTake(out var frame, timeout))
        {
            if (_frames.IsClosed) throw new ExchangeFailedException($"{_description} was closed");
            throw new ExchangeFailedException($"nothing from {_description} within {timeout.TotalSeconds:0.#} s (waiting for {expected})");
        }
        try
        {
            if (frame.Header != expected)
                throw new ExchangeFailedException($"{_description} sent {frame.Header} where {expected} was expected: members disagree on the exchange");
            var source = frame.Values.Span;
            if (add) TensorPrimitives.Add(target, source, target);
            else source.CopyTo(target);
        }
        finally
        {
            frame.Tracker.Done();
        }
    }

    /// <summary>Fails every frame still waiting, so no sender waits for a reader that is gone.</summary>
    public void Dispose() => _frames.Close();
}
