using ElasticTrain.Collectives;
using ElasticTrain.Collectives.Compression;

namespace ElasticTrain.Ranks.Compression;

/// <summary>fp16 or bf16 on the wire: half the bytes, no state (the rounding is not fed back).</summary>
public sealed class HalfCompressor(ICompressedCollective collective, HalfFormat format) : IGradientCompressor
{
    public void Exchange(Memory<float> buffer, GradientBucket bucket, ExchangeGroup group, CancellationToken cancellation) =>
        collective.AllReduceSum16(buffer.Slice(bucket.Offset, bucket.Count), format, group, bucket.Index, cancellation);

    public void Commit() { }
}
