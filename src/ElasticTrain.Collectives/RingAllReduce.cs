using ElasticTrain.Collectives.Transport;

namespace ElasticTrain.Collectives;

/// <summary>
/// Pipelined ring all-reduce on the data plane: reduce-scatter then all-gather, n-1 rounds each,
/// every member sending 2(n-1)/n of the buffer, the bandwidth optimum for a ring. A round's chunk
/// moves in parts, and each part is passed on to the right as soon as it has arrived from the left
/// (what a member receives in one round is what it sends in the next), so the rounds overlap and
/// the links stay busy. Sends go out on the link's own thread while this one receives and adds.
/// </summary>
public sealed partial class RingAllReduce(RankPort port, TimeSpan timeout) : ICollective
{
    public const int ReduceScatter = 0, AllGather = 1;

    /// <summary>
    /// Values per frame: 128 Ki floats (512 KiB). Small enough that the next hop starts early,
    /// large enough that per-frame costs (a header, a system call) stay negligible.
    /// </summary>
    public const int PartValues = 1 << 17;

    public void AllReduceSum(Memory<float> values, ExchangeGroup group, int bucket, CancellationToken cancellation)
    {
        int n = group.Size, p = group.Position;
        if (n == 1) return;
        RunOnRing(group, cancellation, (right, left, sent) =>
        {
            int hops = 2 * (n - 1);
            PostChunk(right, sent, values, group.Step, bucket, hop: 0, n, p);
            for (int hop = 0; hop < hops; hop++)
            {
                var (phase, round) = PhaseAndRound(hop, n);
                var (offset, count) = RingSchedule.Chunk(values.Length, n, RingSchedule.ReceiveIndex(phase, round, p, n));
                for (int part = 0; part < PartsOf(count); part++)
                {
                    var (start, length) = PartOf(count, part);
                    var target = values.Slice(offset + start, length);
                    left.Receive(new FrameHeader(group.Step, bucket, phase, round, part, length), target.Span, add: phase == ReduceScatter, timeout);
                    if (hop + 1 < hops)
                    {
                        var (nextPhase, nextRound) = PhaseAndRound(hop + 1, n);
                        Post(right, new FrameHeader(group.Step, bucket, nextPhase, nextRound, part, length), target, sent);
                    }
                }
            }
        });
    }

    /// <summary>
    /// Runs one exchange on this member's ring links and waits until every frame it posted is
    /// taken. A failure aborts the port, so the neighbours fail too instead of waiting for frames
    /// that will not come; a new generation cancels the exchange by closing the links at once.
    /// </summary>
    private void RunOnRing(ExchangeGroup group, CancellationToken cancellation, Action<IOutboundLink, IInboundLink, SendTracker> exchange)
    {
        cancellation.ThrowIfCancellationRequested();
        using var abortOnCancel = cancellation.Register(port.Abort);
        try
        {
            var right = port.Outbound(group.Generation, group.Right, DataChannel.RingAllReduce, timeout, cancellation);
            var left = port.Inbound(group.Generation, group.Left.Rank, DataChannel.RingAllReduce, timeout, cancellation);
            var sent = new SendTracker();
            exchange(right, left, sent);
            sent.WaitAll(timeout);
        }
        catch (Exception e) when (e is ExchangeFailedException or ObjectDisposedException)
        {
            port.Abort();
            cancellation.ThrowIfCancellationRequested();
            throw e as ExchangeFailedException ?? new ExchangeFailedException(e.Message.ReplaceLineEndings(" "));
        }
    }

    /// <summary>The first hop sends this member's own chunk; every later hop forwards what arrived.</summary>
    private void PostChunk(IOutboundLink right, SendTracker sent, Memory<float> values, long step, int bucket, int hop, int n, int p)
    {
        var (phase, round) = PhaseAndRound(hop, n);
        var (offset, count) = RingSchedule.Chunk(values.Length, n, RingSchedule.SendIndex(phase, round, p, n));
        for (int part = 0; part < PartsOf(count); part++)
        {
            var (start, length) = PartOf(count, part);
            Post(right, new FrameHeader(step, bucket, phase, round, part, length), values.Slice(offset + start, length), sent);
        }
    }

    private static (int Phase, int Round) PhaseAndRound(int hop, int n) =>
        hop < n - 1 ? (ReduceScatter, hop) : (AllGather, hop - (n - 1));

    private static int PartsOf(int count) => FrameHeader.PartCount(count, PartValues);

    private static (int Start, int Length) PartOf(int count, int part) => FrameHeader.PartRange(count, part, PartValues);
}
