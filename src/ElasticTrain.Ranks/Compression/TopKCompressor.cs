using ElasticTrain.Collectives;
using ElasticTrain.Collectives.Compression;
using ElasticTrain.Training;

namespace ElasticTrain.Ranks.Compression;

/// <summary>
/// Top-k with error feedback, per bucket: each rank adds its residual to its gradient, sends the k
/// largest entries of that (k = ceil(ratio·n)) and keeps the rest as the next residual. The ranks
/// all-gather their (index, value) pairs, the index bit-cast into a float slot, and every rank adds
/// the blocks in ring order, each in index order, so all hold the same bits. Each rank sends
/// (W-1)·2k floats per bucket against 2(W-1)/W·n for the float32 ring: fewer whenever k &lt; n/W.
/// With Adam, <paramref name="moments"/> keeps the rank's own second moment; the schedule's dense
/// steps then all-reduce whole gradients, and its refresh steps the moments too (see
/// <see cref="SecondMomentRefresh"/>).
/// </summary>
public sealed class TopKCompressor(ICompressedCollective collective, double ratio, OwnSecondMoments? moments = null) : IGradientCompressor
{
    private readonly Residuals<float[]> _residuals = new();
    private readonly BucketArrays _arrays = new();

    public void Exchange(Memory<float> buffer, GradientBucket bucket, ExchangeGroup group, CancellationToken cancellation)
    {
        int n = bucket.Count, w = group.Size;
        if (moments is not null && n > 0)
        {
            var moment = moments.Take(buffer, bucket);
            if (moments.Schedule.IsDense(group.Step))
            {
                if (w > 1) collective.AllReduceSum(buffer.Slice(bucket.Offset, n), group, bucket.Index, cancellation);
                return;
            }
            if (moments.Schedule.Refreshes(group.Step)) moments.Refresh(buffer, bucket, moment, group, cancellation);
        }
        if (w == 1 || n == 0) return; // nothing travels: nothing to compress
        var values = buffer.Span.Slice(bucket.Offset, n);
        // The accumulated gradient, until the selection takes what is sent.
        var held = _residuals.Held(buffer, bucket);
        var residual = _arrays.Beside(bucket, held);
        values.CopyTo(residual);
        if (held is not null) System.Numerics.Tensors.TensorPrimitives.Add(residual, held, residual);
        int k = TopKSelection.K(n, ratio);
        var (indices, sent) = TopKSelection.Take(residual, k);

        var blocks = new float[w * 2 * k];
        var own = blocks.AsSpan(group.Position * 2 * k, 2 * k);
        for (int j = 0; j < k; j++)
        {
            own[j] = BitConverter.Int32BitsToSingle(indices[j]);
            own[k + j] = sent[j];
        }
        collective.GatherBlocks(blocks, group, bucket.Index, cancellation);

        values.Clear();
        for (int member = 0; member < w; member++)
        {
            var block = blocks.AsSpan(member * 2 * k, 2 * k);
            for (int j = 0; j < k; j++)
            {
                int index = BitConverter.SingleToInt32Bits(block[j]);
                if ((uint)index >= (uint)n) throw new ExchangeFailedException($"member {member} sent index {index} for a bucket of {n}");
                values[index] += block[k + j];
            }
        }
        _residuals.Stage(bucket, residual);
    }

    public void Commit()
    {
        _residuals.Commit();
        moments?.Commit();
    }

    public void ScaleOwnGradient(float scale) => moments?.ScaleOwnGradient(scale);

    public float[]? TakeSecondMoment(long step) => moments?.TakeRefreshed(step);

    public IReadOnlyList<(GradientBucket Bucket, float[] Residual)> Residuals() => _residuals.All();

    public void Absorb(Memory<float> buffer, GradientBucket bucket, float[] residual) =>
        _residuals.Absorb(buffer, bucket, held => Sum(held, residual));

    public void ClearResiduals() => _residuals.Clear();

    private static float[] Sum(float[]? held, float[] more)
    {
        var sum = more.ToArray();
        if (held is not null) System.Numerics.Tensors.TensorPrimitives.Add(sum, held, sum);
        return sum;
    }

    /// <summary>What this rank has not sent of bucket <paramref name="index"/> yet.</summary>
    internal float[]? Residual(int index) => _residuals.Peek(index);
}
