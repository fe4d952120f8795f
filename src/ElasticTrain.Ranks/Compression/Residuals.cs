using System.Runtime.InteropServices;

namespace ElasticTrain.Ranks.Compression;

/// <summary>
/// A compressor's per-bucket state (the error-feedback residual, PowerSGD's Q), owned by the rank:
/// it lives as long as the rank's exchange, across generations, while the rank keeps its model
/// part. A step's exchange stages new state; it replaces the held state only when the step is
/// committed (<see cref="Commit"/>), so a step that is aborted and run again starts from the same
/// residual instead of counting its gradient twice. A rank that keeps its part on a re-plan keeps
/// its gradient buffer, and so its residuals; a rank whose part is rebuilt (other layers of a
/// pipeline, or state loaded from elsewhere) hands over a new buffer, and every residual of the
/// old one is dropped, as the parameters it belonged to may be gone, unless the state is handed
/// over by parameter (<see cref="ResidualTransfer"/>). Not in checkpoints: a resumed job starts
/// with none, and what a rank that died held is lost.
/// </summary>
internal sealed class Residuals<TState> where TState : class
{
    private readonly object _gate = new();
    private readonly Dictionary<int, (GradientBucket Bucket, TState State)> _held = [];
    private readonly Dictionary<int, (GradientBucket Bucket, TState State)> _staged = [];
    private float[]? _buffer;

    /// <summary>The committed state of <paramref name="bucket"/> of <paramref name="buffer"/>; null when the buffer or the bucket is new.</summary>
    public TState? Held(Memory<float> buffer, GradientBucket bucket)
    {
        lock (_gate)
        {
            Use(buffer);
            return HeldNow(bucket);
        }
    }

    /// <summary>Under the gate: the state held is <paramref name="buffer"/>'s; a new buffer drops the old one's.</summary>
    private void Use(Memory<float> buffer)
    {
        var array = MemoryMarshal.TryGetArray<float>(buffer, out var segment) ? segment.Array : null;
        if (ReferenceEquals(array, _buffer)) return;
        _held.Clear();
        _staged.Clear();
        _buffer = array;
    }

    private TState? HeldNow(GradientBucket bucket) =>
        _held.TryGetValue(bucket.Index, out var held) && Same(held.Bucket, bucket) ? held.State : null;

    /// <summary>Every committed state, with its bucket: what the rank would hand to another.</summary>
    public IReadOnlyList<(GradientBucket Bucket, TState State)> All()
    {
        lock (_gate) return [.. _held.Values.OrderBy(h => h.Bucket.Index)];
    }

    /// <summary>Forgets every committed and staged state: it was handed to another rank.</summary>
    public void Clear()
    {
        lock (_gate)
        {
            _held.Clear();
            _staged.Clear();
        }
    }

    /// <summary>
    /// Makes <paramref name="merge"/>'s result the committed state of <paramref name="bucket"/> of
    /// <paramref name="buffer"/>, given what is held there now (null: none). A new buffer drops
    /// what the old one held first, as <see cref="Held"/> does.
    /// </summary>
    public void Absorb(Memory<float> buffer, GradientBucket bucket, Func<TState?, TState> merge)
    {
        lock (_gate)
        {
            Use(buffer);
            _held[bucket.Index] = (bucket, merge(HeldNow(bucket)));
        }
    }

    /// <summary>The state this step's exchange of <paramref name="bucket"/> leaves, held once the step commits.</summary>
    public void Stage(GradientBucket bucket, TState state)
    {
        lock (_gate) _staged[bucket.Index] = (bucket, state);
    }

    /// <summary>The step whose exchange staged state is committed: that state is now the rank's.</summary>
    public void Commit()
    {
        lock (_gate)
        {
            foreach (var (index, staged) in _staged) _held[index] = staged;
            _staged.Clear();
        }
    }

    /// <summary>The committed state of bucket <paramref name="index"/>, if any (to check the accounting).</summary>
    public TState? Peek(int index)
    {
        lock (_gate) return _held.TryGetValue(index, out var held) ? held.State : null;
    }

    private static bool Same(GradientBucket a, GradientBucket b) =>
        a.Offset == b.Offset && a.Count == b.Count && a.FirstParameter == b.FirstParameter && a.EndParameter == b.EndParameter;
}
