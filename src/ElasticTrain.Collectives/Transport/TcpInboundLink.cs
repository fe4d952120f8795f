using System.Net.Sockets;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;

namespace ElasticTrain.Collectives.Transport;

/// <summary>
/// The receiving end of a TCP link. A gathered part is read straight into its place in the buffer;
/// a reduced part is read into a small scratch array piece by piece, each piece added as it lands.
/// </summary>
public sealed class TcpInboundLink(Socket socket, string description) : IInboundLink
{
    private readonly float[] _scratch = new float[16 * 1024]; // 64 KiB: fits a core's L2 with room to spare
    private readonly byte[] _header = new byte[FrameHeader.Size];
    private TimeSpan _timeout;

    public void Receive(FrameHeader expected, Span<float> target, bool add, TimeSpan timeout)
    {
        if (expected.Count != target.Length)
            throw new ArgumentException($"expected {expected.Count} values into a target of {target.Length}");
        try
        {
            if (timeout != _timeout) // a system call: only when it changes
            {
                socket.ReceiveTimeout = (int)Math.Min(int.MaxValue, timeout.TotalMilliseconds);
                _timeout = timeout;
            }
            SocketIo.ReadAll(socket, _header);
            var header = FrameHeader.Read(_header);
            // The peer passed the handshake, but its bytes are still checked: a count outside the
            // limit is refused before anything is read for it (the values land in target, whose
            // length the exchange fixed, so nothing is ever allocated by the peer's say-so).
            if (header.Count < 0 || header.Count > FrameHeader.MaxValues)
                throw new ExchangeFailedException($"{description} sent a frame of {header.Count} values (the limit is {FrameHeader.MaxValues}): refused");
            if (header != expected)
                throw new ExchangeFailedException($"{description} sent {header} where {expected} was expected: members disagree on the exchange");
            if (!add)
            {
                SocketIo.ReadAll(socket, MemoryMarshal.AsBytes(target));
                return;
            }
            // Read and add a cache-sized piece at a time: the piece is still in cache when it is added.
            for (int done = 0; done < target.Length; done += _scratch.Length)
            {
                var piece = target.Slice(done, Math.Min(_scratch.Length, target.Length - done));
                var values = _scratch.AsSpan(0, piece.Length);
                SocketIo.ReadAll(socket, MemoryMarshal.AsBytes(values));
                TensorPrimitives.Add(piece, values, piece);
            }
        }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.TimedOut or SocketError.WouldBlock)
        {
            throw new ExchangeFailedException($"nothing from {description} within {timeout.TotalSeconds:0.#} s (waiting for {expected})");
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            // Includes a frame cut short: the peer closed the link mid-frame.
            throw new ExchangeFailedException($"{description} is gone: {e.Message.ReplaceLineEndings(" ")}");
        }
    }

    public void Dispose() => socket.Dispose();
}
