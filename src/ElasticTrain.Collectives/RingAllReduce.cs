using Akka.Actor;

namespace ElasticTrain.Collectives;

/// <summary>
/// Ring all-reduce over actor messages: reduce-scatter then all-gather, n-1 rounds each. Sends go
/// straight to the right-hand neighbour's actor (by reference between ranks of one process, through
/// <see cref="TensorChunkSerializer"/> across processes); receives come from this member's
/// <see cref="ExchangeInbox"/>. Each sent chunk is a fresh array because the receiver may read it
/// after this member has moved on and overwritten its buffer.
/// </summary>
public sealed class RingAllReduce(ExchangeInbox inbox, TimeSpan timeout) : ICollective
{
    public void AllReduceSum(float[] buffer, ExchangeGroup group, CancellationToken cancellation)
    {
        int n = group.Size, p = group.Position;
        if (n == 1) return;
        for (int phase = RingChunk.ReduceScatter; phase <= RingChunk.AllGather; phase++)
        {
            for (int round = 0; round < n - 1; round++)
            {
                var (sendOffset, sendCount) = RingSchedule.Chunk(buffer.Length, n, RingSchedule.SendIndex(phase, round, p, n));
                for (int part = 0; part < RingChunk.PartsOf(sendCount); part++)
                {
                    int start = part * RingChunk.MaxPartValues, length = Math.Min(RingChunk.MaxPartValues, sendCount - start);
                    group.Right.Tell(new RingChunk(group.Generation, group.Step, phase, round, part,
                        buffer.AsSpan(sendOffset + start, Math.Max(0, length)).ToArray()), ActorRefs.NoSender);
                }

                var (offset, count) = RingSchedule.Chunk(buffer.Length, n, RingSchedule.ReceiveIndex(phase, round, p, n));
                for (int part = 0; part < RingChunk.PartsOf(count); part++)
                {
                    int start = part * RingChunk.MaxPartValues, length = Math.Max(0, Math.Min(RingChunk.MaxPartValues, count - start));
                    var chunk = inbox.Take((group.Generation, group.Step, phase, round, part), timeout, cancellation);
                    if (chunk.Values.Length != length)
                        throw new ExchangeFailedException($"chunk part of {chunk.Values.Length} values where {length} were expected: members disagree on the buffer size");
                    var target = buffer.AsSpan(offset + start, length);
                    if (phase == RingChunk.ReduceScatter)
                        System.Numerics.Tensors.TensorPrimitives.Add(target, chunk.Values, target);
                    else
                        chunk.Values.CopyTo(target);
                }
            }
        }
    }
}
