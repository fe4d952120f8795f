using System.Collections.Concurrent;
using System.Numerics.Tensors;

namespace ElasticTrain.Collectives.Transport;

/// <summary>
/// A link between two ranks of one process, without copies: the sender posts a view of its own
/// buffer and the receiver adds or copies straight from it. The ring's order makes this safe: a
/// region a member has sent is not written again before the receiver has read it (it waits for the
/// sum the receiver helps make), and the exchange only returns once all its frames are read.
/// </summary>
public sealed class LocalLink : IOutboundLink, IInboundLink
{
    private readonly BlockingCollection<(FrameHeader Header, ReadOnlyMemory<float> Values, SendTracker Tracker)> _frames = new();
    private readonly string _description;

    public LocalLink(string description) => _description = description;

    public void Post(FrameHeader header, ReadOnlyMemory<float> values, SendTracker tracker)
    {
        tracker.Posted();
        try { _frames.Add((header, values, tracker)); }
        catch (InvalidOperationException) { tracker.Done(new ObjectDisposedException(_description)); }
    }

    public void Receive(FrameHeader expected, Span<float> target, bool add, TimeSpan timeout)
    {
        bool taken;
        (FrameHeader Header, ReadOnlyMemory<float> Values, SendTracker Tracker) frame;
        try { taken = _frames.TryTake(out frame, timeout); }
        catch (Exception e) when (e is ObjectDisposedException or InvalidOperationException) { throw Closed(); }
        if (!taken)
        {
            if (_frames.IsAddingCompleted) throw Closed();
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

    private ExchangeFailedException Closed() => new($"{_description} was closed");

    /// <summary>Fails every frame still waiting, so no sender waits for a reader that is gone.</summary>
    public void Dispose()
    {
        _frames.CompleteAdding();
        while (_frames.TryTake(out var frame)) frame.Tracker.Done(new ObjectDisposedException(_description));
    }
}
