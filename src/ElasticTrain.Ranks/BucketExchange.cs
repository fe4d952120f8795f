using System.Diagnostics;
using ElasticTrain.Collectives;
using ElasticTrain.Ranks.Compression;
using ElasticTrain.Training;

namespace ElasticTrain.Ranks;

/// <summary>
/// Overlaps the gradient exchange with backward, as DDP does: the compute thread hands over each
/// bucket as soon as backward has finished its gradients, and this exchange thread all-reduces the
/// buckets in order while backward goes on. Every member submits the same buckets in the same
/// order, so the exchanges pair up across the ring. With a job's compression each bucket goes
/// through its <see cref="IGradientCompressor"/> instead of the float32 all-reduce.
/// </summary>
public sealed class BucketExchange : IDisposable
{
    private readonly ICollective _collective;
    private readonly ComputeThread _thread;
    private readonly object _gate = new();
    private int _pending;
    private Exception? _failure;
    private double _busyMs;
    private readonly IGradientCompressor? _compressor;
    private long _bytesReported;

    /// <param name="torchThreads">libtorch's intra-op threads of the exchange thread: the rank's own (a compressor multiplies there).</param>
    public BucketExchange(ICollective collective, string name, int torchThreads)
    {
        _collective = collective;
        _thread = new ComputeThread($"exchange {name}", torchThreads);
    }

    /// <summary>An exchange that sends buckets as <paramref name="compression"/> says (none: float32 sums).</summary>
    /// <param name="moments">A top-k job's Adam: where its second moment comes from (see <see cref="GradientCompressor.Create"/>).</param>
    public BucketExchange(ICollective collective, string name, int torchThreads, CompressionSettings compression, SecondMomentRefresh? moments = null, double beta2 = 0.999)
        : this(collective, name, torchThreads)
    {
        _compressor = GradientCompressor.Create(compression, collective, moments, beta2);
    }

    /// <summary>What turns this rank's gradient sums of the coming step into its own mean gradient: 1 / (its samples · the loss scale). Call before the step's first bucket.</summary>
    public void ScaleOwnGradient(float scale) => _compressor?.ScaleOwnGradient(scale);

    /// <summary>The second moment step <paramref name="step"/> refreshed for a top-k job's Adam, laid out as the gradient buffer; null when it did not. Call when the exchange is idle.</summary>
    public float[]? TakeSecondMoment(long step) => _compressor?.TakeSecondMoment(step);

    /// <summary>
    /// The step last exchanged is committed: what compression left over in its exchange (the
    /// error-feedback residuals) becomes the rank's. Until then a step that is aborted and run
    /// again starts from the residuals before it. Call when the exchange is idle (after <see cref="WaitAll"/>).
    /// </summary>
    public void CommitResiduals() => _compressor?.Commit();

    /// <summary>The committed error-feedback residuals, per bucket (none without top-k or PowerSGD). Call when the exchange is idle.</summary>
    public IReadOnlyList<(GradientBucket Bucket, float[] Residual)> Residuals() => _compressor?.Residuals() ?? [];

    /// <summary>Adds a bucket-sized residual to the committed one of <paramref name="bucket"/> of <paramref name="buffer"/>. Call when the exchange is idle.</summary>
    public void AbsorbResidual(Memory<float> buffer, GradientBucket bucket, float[] residual) => _compressor?.Absorb(buffer, bucket, residual);

    /// <summary>Forgets every residual: they were handed to another rank.</summary>
    public void ClearResiduals() => _compressor?.ClearResiduals();

    /// <summary>
    /// The bytes the collective posted since the last call: one step's, when called after
    /// <see cref="WaitAll"/> on the thread that runs the steps.
    /// </summary>
    public long TakeBytesSent()
    {
        var total = _collective.BytesSent;
        var step = total - _bytesReported;
        _bytesReported = total;
        return step;
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
                if (Volatile.Read(ref _failure) is not null) { }
                else if (_compressor is not null) _compressor.Exchange(values, bucket, group, cancellation);
                else _collective.AllReduceSum(values.Slice(bucket.Offset, bucket.Count), group, bucket.Index, cancellation);
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
                _bytesReported = _collective.BytesSent; // a failed step's bytes are not the next step's
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(failure).Throw();
            }
            return busy;
        }
    }

    public void Dispose() => _thread.Dispose();
}
