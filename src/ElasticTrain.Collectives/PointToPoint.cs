using ElasticTrain.Collectives.Transport;

namespace ElasticTrain.Collectives;

/// <summary>
/// Tensors between two named endpoints on the data plane, one float32 tensor per message, of any
/// length (none included): between neighbouring pipeline stages, a stage's output activations to
/// the next stage and the gradient of its input to the previous one (<see cref="StageMessage"/>);
/// between workers and parameter shards, gradient sums one way and values the other
/// (<see cref="ShardMessage"/>). Over TCP between processes; inside
/// one, through a <see cref="LocalLink"/>: one copy, straight from the sender's buffer into the
/// receiver's, no socket.
/// <para>
/// <b>Keeping traffic apart.</b> Each pass travels on its own <see cref="DataChannel"/>, and a
/// rank's links are keyed by peer, channel and generation (<see cref="RankPort"/>), so the ring's
/// gradients and the stages' tensors between the same two ranks in the same generation run on
/// separate connections: neither can read the other's frames or wait behind them. Tensors of one
/// pass between one pair arrive in the order they were sent, and the receiver names the one it
/// expects; any other fails the receive. Frames of an earlier generation never arrive: their links
/// close when the next generation begins, and the listener refuses hellos for a generation that is over.
/// </para>
/// <para>
/// <b>Overlap and buffer ownership.</b> <see cref="Send"/> returns once the tensor's frames are
/// queued on the link; the link's own thread writes them, straight from the caller's memory, while
/// the stage computes. The caller must neither write nor free the values (nor dispose a tensor they
/// view) until <see cref="SendTracker.WaitAll"/> on the tracker passed in has returned or thrown.
/// Over TCP a frame is done once its bytes are in the kernel's socket buffer; inside a process, once
/// the receiver has copied it. Waiting on a send can therefore wait on the peer's matching
/// <see cref="Receive"/>: wait when the buffer is needed again or at the end of the step, never
/// before a receive that the peer's progress depends on. One tracker may cover many sends (a
/// step's) or one (a buffer's). A receive holds nothing once it returns.
/// </para>
/// <para>
/// <b>Threads.</b> Sends of one pass to one peer must come from one thread at a time, as must
/// receives of one pass from one peer (a stage's own): concurrent sends would interleave their
/// frames. Different passes and peers are independent.
/// </para>
/// <para>
/// <b>Failure.</b> As in the ring: a closed or reset link fails the receive at once, a silent peer
/// within the exchange timeout (waiting for it to connect, then for each frame), and the error
/// names the peer. A new generation, <see cref="RankPort.Abort"/> or the cancellation token cuts a
/// wait short. A failing rank closes all its links (the ring's too: the step is lost either way),
/// so its neighbours fail in turn instead of waiting out their timeouts.
/// </para>
/// <para>
/// <b>Cost.</b> Per tensor: a lock and a dictionary lookup to find the link, and a cancellation
/// registration when the token can be cancelled. Per frame (up to 16 MiB): a 28-byte header, no
/// allocation, no copy in managed memory on the sending side.
/// </para>
/// </summary>
public sealed class PointToPoint(RankPort port, TimeSpan timeout)
{
    /// <summary>
    /// Values per frame: the frame limit, 4 Mi floats (16 MiB). Unlike the ring, nothing is passed
    /// on while a tensor is still arriving, so smaller frames would only add headers.
    /// </summary>
    public const int PartValues = FrameHeader.MaxValues;

    /// <summary>
    /// Queues <paramref name="values"/> for <paramref name="to"/> as <paramref name="message"/> and
    /// returns; <paramref name="sent"/> says when the values may be touched again (see the class
    /// remarks). Blocks only to connect, on the first tensor of a pass to a peer in a generation.
    /// </summary>
    public void Send<TMessage>(ExchangeMember to, TMessage message, ReadOnlyMemory<float> values, SendTracker sent, CancellationToken cancellation)
        where TMessage : struct, IPointToPointMessage
    {
        cancellation.ThrowIfCancellationRequested();
        try
        {
            var link = port.Outbound(message.Generation, to, message.Channel, timeout, cancellation);
            int total = values.Length;
            for (int part = 0; part < FrameHeader.PartCount(total, PartValues); part++)
            {
                var (start, length) = FrameHeader.PartRange(total, part, PartValues);
                link.Post(message.Frame(part, length, total), values.Slice(start, length), sent);
            }
        }
        catch (Exception e) when (e is ExchangeFailedException or ObjectDisposedException)
        {
            throw Failed(e, $"sending {message} to {to.Rank} failed", cancellation);
        }
    }

    /// <summary>
    /// Blocks until <paramref name="message"/> from <paramref name="from"/> has filled
    /// <paramref name="target"/>, whose length must be the tensor's. On failure the target holds
    /// part of it.
    /// </summary>
    /// <param name="add">Add the tensor to what <paramref name="target"/> holds instead of overwriting it
    /// (a shard summing its workers' gradients), with no buffer in between.</param>
    public void Receive<TMessage>(string from, TMessage message, Span<float> target, CancellationToken cancellation, bool add = false)
        where TMessage : struct, IPointToPointMessage
    {
        cancellation.ThrowIfCancellationRequested();
        // The rank stops or the generation ends: closing the links unblocks the receive at once.
        using var abortOnCancel = cancellation.Register(port.Abort);
        try
        {
            var link = port.Inbound(message.Generation, from, message.Channel, timeout, cancellation);
            int total = target.Length;
            for (int part = 0; part < FrameHeader.PartCount(total, PartValues); part++)
            {
                var (start, length) = FrameHeader.PartRange(total, part, PartValues);
                link.Receive(message.Frame(part, length, total), target.Slice(start, length), add, timeout);
            }
        }
        catch (Exception e) when (e is ExchangeFailedException or ObjectDisposedException)
        {
            throw Failed(e, $"receiving {message} from {from} failed", cancellation);
        }
    }

    /// <summary>Closes this rank's links, so its neighbours fail too, and says what failed.</summary>
    private Exception Failed(Exception e, string what, CancellationToken cancellation)
    {
        port.Abort();
        cancellation.ThrowIfCancellationRequested();
        return new ExchangeFailedException($"{what}: {e.Message.ReplaceLineEndings(" ")}");
    }
}
