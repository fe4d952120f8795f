using System.Collections.Concurrent;

namespace ElasticTrain.Collectives.Transport;

/// <summary>One frame posted to a link: where its values belong, the values, and whom to tell when done.</summary>
public readonly record struct PostedFrame(FrameHeader Header, ReadOnlyMemory<float> Values, SendTracker Tracker);

/// <summary>
/// The frames posted to a link and not yet taken, in order. Every frame is finished exactly once
/// (by whoever takes it, or as failed when the queue closes), so a sender never waits for a
/// frame nobody will take.
/// </summary>
public sealed class PostedFrames(string description)
{
    private readonly BlockingCollection<PostedFrame> _frames = new();

    public void Post(FrameHeader header, ReadOnlyMemory<float> values, SendTracker tracker)
    {
        tracker.Posted();
        try { _frames.Add(new PostedFrame(header, values, tracker)); }
        catch (InvalidOperationException) { tracker.Done(new ObjectDisposedException(description)); }
    }

    /// <summary>The next frame within <paramref name="timeout"/>; false on a timeout or once closed (see <see cref="IsClosed"/>).</summary>
    public bool TryTake(out PostedFrame frame, TimeSpan timeout) => _frames.TryTake(out frame, timeout);

    /// <summary>Blocks for each frame in turn until the queue is closed and empty.</summary>
    public IEnumerable<PostedFrame> TakeAll() => _frames.GetConsumingEnumerable();

    public bool IsClosed => _frames.IsAddingCompleted;

    /// <summary>Takes no more frames, and fails those still waiting.</summary>
    public void Close()
    {
        _frames.CompleteAdding();
        while (_frames.TryTake(out var frame)) frame.Tracker.Done(new ObjectDisposedException(description));
    }
}
