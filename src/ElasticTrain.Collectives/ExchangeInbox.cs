using System.Threading.Channels;

namespace ElasticTrain.Collectives;

/// <summary>
/// Where a member's incoming ring chunks wait for its compute thread. The actor that owns the
/// member posts into it from its mailbox; the compute thread takes the one chunk it expects next.
/// Chunks of an earlier exchange (an aborted step, an old generation) are dropped and counted;
/// chunks of a later one are held until asked for.
/// </summary>
public sealed class ExchangeInbox
{
    private readonly Channel<RingChunk> _arrivals = Channel.CreateUnbounded<RingChunk>(
        new UnboundedChannelOptions { SingleReader = true, SingleWriter = false });
    private readonly List<RingChunk> _early = []; // touched by the reading thread only
    private long _dropped;

    /// <summary>Chunks discarded because they belonged to an exchange that was already over.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    public void Post(RingChunk chunk) => _arrivals.Writer.TryWrite(chunk);

    /// <summary>Blocks until the chunk of the given place arrives; throws <see cref="ExchangeFailedException"/> after <paramref name="timeout"/>.</summary>
    public RingChunk Take((long, long, int, int, int) order, TimeSpan timeout, CancellationToken cancellation)
    {
        for (int i = 0; i < _early.Count; i++)
        {
            if (_early[i].Order != order) continue;
            var held = _early[i];
            _early.RemoveAt(i);
            return held;
        }
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        deadline.CancelAfter(timeout);
        try
        {
            while (true)
            {
                var chunk = _arrivals.Reader.ReadAsync(deadline.Token).AsTask().GetAwaiter().GetResult();
                var comparison = chunk.Order.CompareTo(order);
                if (comparison == 0) return chunk;
                if (comparison < 0) Interlocked.Increment(ref _dropped);
                else _early.Add(chunk);
            }
        }
        catch (OperationCanceledException) when (!cancellation.IsCancellationRequested)
        {
            throw new ExchangeFailedException(
                $"no chunk from the left neighbour within {timeout.TotalSeconds:0.#} s (generation {order.Item1}, step {order.Item2})");
        }
    }

    /// <summary>Forgets held chunks older than the given exchange, e.g. when a new generation starts.</summary>
    public void DropBefore(long generation, long step)
    {
        Interlocked.Add(ref _dropped, _early.RemoveAll(c => (c.Generation, c.Step).CompareTo((generation, step)) < 0));
    }
}
