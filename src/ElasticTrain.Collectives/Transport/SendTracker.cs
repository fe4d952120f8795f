namespace ElasticTrain.Collectives.Transport;

/// <summary>
/// Counts frames that are posted but not yet done (one exchange's, or the sends of a pipeline
/// stage's buffers), so their owner can wait until its buffer is no longer read by anyone before
/// reusing it or handing it back. A failed send fails the wait.
/// </summary>
public sealed class SendTracker
{
    private readonly object _gate = new();
    private int _outstanding;
    private Exception? _failure;

    public void Posted()
    {
        lock (_gate) _outstanding++;
    }

    public void Done(Exception? failure = null)
    {
        lock (_gate)
        {
            _outstanding--;
            _failure ??= failure;
            Monitor.PulseAll(_gate);
        }
    }

    /// <summary>
    /// Blocks until every posted frame is done, so nobody reads the buffer after this returns or
    /// throws (a failed link fails its queued frames at once; only a frame in flight is waited for);
    /// throws if one failed or the time runs out.
    /// </summary>
    public void WaitAll(TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        lock (_gate)
        {
            while (_outstanding > 0)
            {
                var left = deadline - DateTime.UtcNow;
                if (left <= TimeSpan.Zero || !Monitor.Wait(_gate, left))
                    if (_outstanding > 0)
                        throw new ExchangeFailedException(_failure is null
                            ? $"{_outstanding} frame(s) not taken by the receiving rank within {timeout.TotalSeconds:0.#} s"
                            : $"sending to the receiving rank failed: {OneLine(_failure)}");
            }
            if (_failure is not null)
                throw new ExchangeFailedException($"sending to the receiving rank failed: {OneLine(_failure)}");
        }
    }

    /// <summary>Some exceptions' messages run over two lines (ObjectDisposedException names the object on the second).</summary>
    private static string OneLine(Exception e) => e.Message.ReplaceLineEndings(" ");
}
