using System.Numerics.Tensors;
using ElasticTrain.Collectives;

namespace ElasticTrain.Ranks.Compression;

/// <summary>
/// PowerSGD rank r with error feedback, per bucket. Per rank: M = gradient + residual; for each
/// matrix P = M Q with the Q the last step left (the first seeded, the same everywhere); one
/// all-reduce sums the P's together with the parameters that travel whole; P is orthonormalized;
/// Q = Mᵀ P, summed in a second all-reduce; M̂ = P Qᵀ approximates the sum of the M's over the
/// group, and the rank keeps M − M̂/W (its share of what was lost) as its residual, so the
/// residuals of the group add up to exactly what the sum is missing. The summed Q starts the next
/// step (one power iteration per step warms up over steps).
/// </summary>
public sealed class PowerSgdCompressor(ICollective collective, int rank) : IGradientCompressor
{
    /// <summary>The second all-reduce of a bucket (the Q's) is labelled apart from the first on the wire.</summary>
    private const int SecondRound = 1 << 24;

    /// <param name="Residual">The bucket's residual.</param>
    /// <param name="Q">Each matrix's last summed Q, by its offset in the bucket.</param>
    private sealed record State(float[] Residual, Dictionary<int, float[]> Q);

    private readonly Residuals<State> _states = new();
    private readonly BucketArrays _residuals = new();

    public void Exchange(Memory<float> buffer, GradientBucket bucket, ExchangeGroup group, CancellationToken cancellation)
    {
        if (group.Size == 1 || bucket.Count == 0) return; // nothing travels: nothing to compress
        var shapes = bucket.Shapes ?? throw new InvalidOperationException($"bucket {bucket.Index} has no parameter shapes: PowerSGD needs them");
        var held = _states.Held(buffer, bucket);
        var state = new State(_residuals.Beside(bucket, held?.Residual), held is null ? [] : new(held.Q));
        var m = state.Residual; // M = gradient + residual, until the estimate is taken out of it
        buffer.Span.Slice(bucket.Offset, bucket.Count).CopyTo(m);
        if (held is not null) TensorPrimitives.Add(m, held.Residual, m);

        // The first all-reduce carries the parameters that travel whole, then each matrix's P.
        var whole = new List<(int Offset, int Size)>();
        var layout = new List<(int Offset, int Size, int Rows, int Columns, int P, int Q)>();
        int offset = 0, first = 0, second = 0;
        foreach (var shape in shapes)
        {
            int size = checked((int)shape.Aggregate(1L, (a, b) => a * b));
            if (PowerSgd.Compresses(shape, rank, out var rows, out var columns)) layout.Add((offset, size, rows, columns, -1, -1));
            else { whole.Add((offset, size)); first += size; }
            offset += size;
        }
        if (offset != bucket.Count) throw new InvalidOperationException($"bucket {bucket.Index}: shapes of {offset} values for {bucket.Count}");
        for (int i = 0; i < layout.Count; i++)
        {
            layout[i] = layout[i] with { P = first, Q = second };
            first += layout[i].Rows * rank;
            second += layout[i].Columns * rank;
        }
        var sums = new float[first];
        int at = 0;
        foreach (var (o, size) in whole)
        {
            m.AsSpan(o, size).CopyTo(sums.AsSpan(at, size));
            at += size;
        }
        foreach (var e in layout)
        {
            var q = state.Q.TryGetValue(e.Offset, out var last) ? last : PowerSgd.InitialQ(e.Columns, rank, seed: bucket.FirstParameter * 7919 + e.Offset);
            PowerSgd.Project(m.AsSpan(e.Offset, e.Size), q, sums.AsSpan(e.P, e.Rows * rank), e.Rows, e.Columns, rank);
        }
        collective.AllReduceSum(sums, group, bucket.Index, cancellation);

        var values = buffer.Span.Slice(bucket.Offset, bucket.Count);
        at = 0;
        foreach (var (o, size) in whole)
        {
            sums.AsSpan(at, size).CopyTo(values.Slice(o, size));
            m.AsSpan(o, size).Clear(); // sent whole: nothing left over
            at += size;
        }
        if (layout.Count == 0)
        {
            _states.Stage(bucket, state);
            return;
        }

        var qs = new float[second];
        foreach (var e in layout)
        {
            var p = sums.AsSpan(e.P, e.Rows * rank);
            PowerSgd.Orthonormalize(p, e.Rows, rank);
            PowerSgd.Back(m.AsSpan(e.Offset, e.Size), p, qs.AsSpan(e.Q, e.Columns * rank), e.Rows, e.Columns, rank);
        }
        collective.AllReduceSum(qs, group, bucket.Index + SecondRound, cancellation);

        float share = 1f / group.Size;
        foreach (var e in layout)
        {
            var q = qs.AsSpan(e.Q, e.Columns * rank);
            var estimate = values.Slice(e.Offset, e.Size);
            PowerSgd.Expand(sums.AsSpan(e.P, e.Rows * rank), q, estimate, e.Rows, e.Columns, rank);
            // residual = M − M̂/W
            var residual = m.AsSpan(e.Offset, e.Size);
            for (int i = 0; i < residual.Length; i++) residual[i] -= estimate[i] * share;
            state.Q[e.Offset] = q.ToArray();
        }
        _states.Stage(bucket, state);
    }

    public void Commit() => _states.Commit();

    public IReadOnlyList<(GradientBucket Bucket, float[] Residual)> Residuals() => [.. _states.All().Select(s => (s.Bucket, s.State.Residual))];

    /// <summary>Adds to the bucket's residual; its Q stays (a bucket new here starts from the seeded Q, as a joining rank's does).</summary>
    public void Absorb(Memory<float> buffer, GradientBucket bucket, float[] residual) =>
        _states.Absorb(buffer, bucket, held =>
        {
            var sum = residual.ToArray();
            if (held is not null) TensorPrimitives.Add(sum, held.Residual, sum);
            return new State(sum, held is null ? [] : new(held.Q));
        });

    public void ClearResiduals() => _states.Clear();

    /// <summary>What this rank's share of the sum of bucket <paramref name="index"/> has lost so far.</summary>
    internal float[]? Residual(int index) => _states.Peek(index)?.Residual;
}
