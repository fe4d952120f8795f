using System.Diagnostics;
using ElasticTrain.Collectives;

namespace ElasticTrain.Ranks;

/// <summary>
/// Overlaps the gradient exchange with backward, as DDP does: the compute thread hands over each
/// bucket as soon as backward has finished its gradients, and this exchange thread all-reduces the
/// buckets in order while backward goes on. Every member submits the same buckets in the same
/// order, so the exchanges pair up across the ring.
/// </summary>
public sealed class BucketExchange : IDisposable
{
    private readonly ICollective _collective;
    private readonly ComputeThread _thread;
    private readonly object _gate = new();
    private int _pending;
    private Exception? _failure;
    private double _busyMs;

    public BucketExchange(ICollective collective, string name)
    {
        _collective = collective;
        _thread = new ComputeThread($"exchange {name}");
    }

    /// <summary>Starts all-reducing one bucket of <paramref name="values"/>; returns at once.</summary>
    public void Submit(Memory<float> values, GradientBucket bucket, ExchangeGroup group, CancellationToken cancellation)
    {
        lock (_gate) _pending++;
        _thread.Post(() =>
        {
            Exception? failure = null;
            var clock = Stopwatch.StartNew();
            try
            {
                // After a failure the ring is closed; the remaining buckets only report back.
                if (Volatile.Read(ref _failure) is null)
                    _collective.AllReduceSum(values.Slice(bucket.Offset, bucket.Count), group, bucket.Index, cancellation);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                failure = e;
            }
            lock (_gate)
            {
                _busyMs += clock.Elapsed.TotalMilliseconds;
                _failure ??= failure;
                _pending--;
                Monitor.PulseAll(_gate);
            }
        });
    }

    /// <summary>
    /// Blocks until every submitted bucket is exchanged (the buffer is then this member's again),
    /// rethrows the first failure, and returns the time the exchange thread was busy since the last call.
    /// </summary>
    public double WaitAll()
    {
        lock (_gate)
        {
            while (_pending > 0) Monitor.Wait(_gate);
            var busy = _busyMs;
            _busyMs = 0;
            if (_failure is { } failure)
            {
                _failure = null;
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(failure).Throw();
            }
            return busy;
        }
    }

    public void Dispose() => _thread.Dispose();
}
