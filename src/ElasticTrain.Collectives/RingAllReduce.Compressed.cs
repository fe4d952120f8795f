using ElasticTrain.Collectives.Compression;
using ElasticTrain.Collectives.Transport;

namespace ElasticTrain.Collectives;

/// <summary>
/// The ring's compressed exchanges (<see cref="ICompressedCollective"/>) and the count of bytes it
/// posts. Their frames carry phases of their own, so members that disagree on the compression fail
/// the exchange instead of mixing data.
/// </summary>
public sealed partial class RingAllReduce : ICompressedCollective
{
    public const int ReduceScatter16 = 2, AllGather16 = 3, Gather = 4;

    private long _bytesSent;

    public long BytesSent => Interlocked.Read(ref _bytesSent);

    private void Post(IOutboundLink right, FrameHeader header, ReadOnlyMemory<float> values, SendTracker sent)
    {
        Interlocked.Add(ref _bytesSent, FrameHeader.Size + (long)values.Length * sizeof(float));
        right.Post(header, values, sent);
    }

    /// <summary>
    /// The ring all-reduce with 16-bit payloads: in the reduce-scatter each member decodes what
    /// arrives, adds it to its own float32 values and encodes the partial sum again for the next
    /// hop; the member that completes a chunk rounds it to the format once and sends that encoding,
    /// which the all-gather forwards unchanged, so every member decodes the same bits. Each hop
    /// rounds once: the error grows with the ring's size, like float32's summation error but at
    /// the format's precision. Costs two packed copies of the buffer (allocated per call, so no
    /// peer can still be reading one that is reused).
    /// </summary>
    public void AllReduceSum16(Memory<float> values, HalfFormat format, ExchangeGroup group, int bucket, CancellationToken cancellation)
    {
        int n = group.Size, p = group.Position;
        if (n == 1) return;
        // Where each chunk's packed slots lie: chunks are cut as for float32, then packed one by one.
        var chunks = new (int Offset, int Count, int Packed)[n];
        int packedTotal = 0;
        for (int c = 0; c < n; c++)
        {
            var (offset, count) = RingSchedule.Chunk(values.Length, n, c);
            chunks[c] = (offset, count, packedTotal);
            packedTotal += HalfCodec.PackedLength(count);
        }
        var send = new float[packedTotal];
        var receive = new float[packedTotal];
        var scratch = new float[2 * PartValues];

        (Memory<float> Values, Memory<float> Send, Memory<float> Receive) PartOf(int chunk, int part)
        {
            var (offset, count, packed) = chunks[chunk];
            var (start, length) = FrameHeader.PartRange(HalfCodec.PackedLength(count), part, PartValues);
            int first = 2 * start, end = Math.Min(count, 2 * (start + length));
            return (values.Slice(offset + first, Math.Max(0, end - first)), send.AsMemory(packed + start, length), receive.AsMemory(packed + start, length));
        }
        int Parts(int chunk) => FrameHeader.PartCount(HalfCodec.PackedLength(chunks[chunk].Count), PartValues);

        RunOnRing(group, cancellation, (right, left, sent) =>
        {
            int hops = 2 * (n - 1);
            int own = RingSchedule.SendIndex(ReduceScatter, 0, p, n);
            for (int part = 0; part < Parts(own); part++)
            {
                var (v, s, _) = PartOf(own, part);
                HalfCodec.Encode(v.Span, s.Span, format);
                Post(right, new FrameHeader(group.Step, bucket, ReduceScatter16, 0, part, s.Length), s, sent);
            }
            for (int hop = 0; hop < hops; hop++)
            {
                bool reducing = hop < n - 1;
                int round = reducing ? hop : hop - (n - 1);
                int chunk = RingSchedule.ReceiveIndex(reducing ? ReduceScatter : AllGather, round, p, n);
                for (int part = 0; part < Parts(chunk); part++)
                {
                    var (v, s, r) = PartOf(chunk, part);
                    left.Receive(new FrameHeader(group.Step, bucket, reducing ? ReduceScatter16 : AllGather16, round, part, r.Length), r.Span, add: false, timeout);
                    if (reducing)
                    {
                        HalfCodec.DecodeAdd(r.Span, v.Span, format, scratch);
                        HalfCodec.Encode(v.Span, s.Span, format);
                        bool complete = hop == n - 2; // this member now holds the chunk's whole sum
                        if (complete) HalfCodec.Decode(s.Span, v.Span, format);
                        Post(right, new FrameHeader(group.Step, bucket, complete ? AllGather16 : ReduceScatter16, complete ? 0 : round + 1, part, s.Length), s, sent);
                    }
                    else
                    {
                        HalfCodec.Decode(r.Span, v.Span, format);
                        if (hop + 1 < hops) Post(right, new FrameHeader(group.Step, bucket, AllGather16, round + 1, part, r.Length), r, sent);
                    }
                }
            }
        });
    }

    /// <summary>
    /// A ring all-gather of equal blocks: n-1 hops, each forwarding the block that arrived in the
    /// previous one. Each member sends n-1 blocks.
    /// </summary>
    public void GatherBlocks(Memory<float> blocks, ExchangeGroup group, int bucket, CancellationToken cancellation)
    {
        int n = group.Size, p = group.Position;
        if (blocks.Length % n != 0) throw new ArgumentException($"{blocks.Length} values do not make {n} equal blocks");
        if (n == 1) return;
        int size = blocks.Length / n;
        Memory<float> Block(int index) => blocks.Slice(((index % n) + n) % n * size, size);
        int parts = FrameHeader.PartCount(size, PartValues);

        RunOnRing(group, cancellation, (right, left, sent) =>
        {
            for (int part = 0; part < parts; part++)
            {
                var (start, length) = FrameHeader.PartRange(size, part, PartValues);
                Post(right, new FrameHeader(group.Step, bucket, Gather, 0, part, length), Block(p).Slice(start, length), sent);
            }
            for (int round = 0; round < n - 1; round++)
            {
                var block = Block(p - round - 1);
                for (int part = 0; part < parts; part++)
                {
                    var (start, length) = FrameHeader.PartRange(size, part, PartValues);
                    var target = block.Slice(start, length);
                    left.Receive(new FrameHeader(group.Step, bucket, Gather, round, part, length), target.Span, add: false, timeout);
                    if (round + 1 < n - 1) Post(right, new FrameHeader(group.Step, bucket, Gather, round + 1, part, length), target, sent);
                }
            }
        });
    }
}
