using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace ElasticTrain.Collectives.Transport;

/// <summary>
/// The sending end of a TCP link. Its own thread writes the posted frames in order, straight from
/// the poster's buffer (header, then the floats' bytes: no serializer, no copy in managed memory),
/// so the exchange can receive from its left while it sends to its right.
/// <para>
/// The peer never writes on this connection, so a read that ends means the peer's end is gone (its
/// process died, or it closed its links): <c>peerGone</c> is told at once. A rank waiting for that
/// peer on another link (the gradient a pipeline's next stage would send back, over a connection
/// it had not yet opened) learns of the death from here instead of from its timeout. The watch is
/// one pending asynchronous read per link: no thread.
/// </para>
/// </summary>
public sealed class TcpOutboundLink : IOutboundLink
{
    private readonly Socket _socket;
    private readonly string _description;
    private readonly PostedFrames _frames;
    private volatile Exception? _failure;

    public TcpOutboundLink(Socket socket, string description, Action? peerGone = null)
    {
        _socket = socket;
        _description = description;
        _frames = new PostedFrames(description);
        new Thread(Send) { Name = $"send {description}", IsBackground = true }.Start();
        if (peerGone is not null) _ = WatchPeer(peerGone);
    }

    private async Task WatchPeer(Action peerGone)
    {
        var buffer = new byte[1];
        try
        {
            while (await _socket.ReceiveAsync(buffer, SocketFlags.None) > 0) { } // nothing is ever sent this way
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException) { }
        if (_failure is not null) return; // closed by this side
        _failure = new SocketException((int)SocketError.ConnectionReset);
        peerGone();
    }

    public void Post(FrameHeader header, ReadOnlyMemory<float> values, SendTracker tracker)
    {
        // What the receiver would refuse is refused here, where the mistake is.
        if (header.Count != values.Length || values.Length > FrameHeader.MaxValues)
            throw new ArgumentException($"a frame of {values.Length} values with header {header} (at most {FrameHeader.MaxValues} values per frame)");
        _frames.Post(header, values, tracker);
    }

    private void Send()
    {
        Span<byte> header = stackalloc byte[FrameHeader.Size];
        foreach (var frame in _frames.TakeAll())
        {
            if (_failure is null)
            {
                try
                {
                    frame.Header.Write(header);
                    SocketIo.WriteAll(_socket, header);
                    SocketIo.WriteAll(_socket, MemoryMarshal.AsBytes(frame.Values.Span));
                }
                catch (Exception e) when (e is SocketException or ObjectDisposedException)
                {
                    _failure ??= e; // a close by this side says so first
                }
            }
            frame.Tracker.Done(_failure);
        }
    }

    public void Dispose()
    {
        // One line, as every failure that reaches a user (ObjectDisposedException's own adds a second).
        _failure ??= new ObjectDisposedException(null, $"{_description} was closed");
        _frames.Close();
        _socket.Dispose(); // unblocks a send in progress; the thread then ends
    }
}
