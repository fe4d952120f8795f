using System.Net.Sockets;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;

namespace ElasticTrain.Collectives.Transport;

/// <summary>
/// The receiving end of a TCP link. A gathered part is read straight into its place in the buffer;
/// a reduced part is read into a scratch array sized once for the largest part, then added.
/// </summary>
public sealed class TcpInboundLink(Socket socket, string description) : IInboundLink
{
    private float[] _scratch = [];
    private readonly byte[] _header = new byte[FrameHeader.Size];

    public void Receive(FrameHeader expected, Span<float> target, bool add, TimeSpan timeout)
    {
        try
        {
            socket.ReceiveTimeout = (int)Math.Min(int.MaxValue, timeout.TotalMilliseconds);
            SocketIo.ReadAll(socket, _header);
            var header = FrameHeader.Read(_header);
            if (header != expected)
                throw new ExchangeFailedException($"{description} sent {header} where {expected} was expected: members disagree on the exchange");
            if (!add)
            {
                SocketIo.ReadAll(socket, MemoryMarshal.AsBytes(target));
                return;
            }
            if (_scratch.Length < target.Length) _scratch = new float[Math.Max(target.Length, RingAllReduce.PartValues)];
            var values = _scratch.AsSpan(0, target.Length);
            SocketIo.ReadAll(socket, MemoryMarshal.AsBytes(values));
            TensorPrimitives.Add(target, values, target);
        }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.TimedOut or SocketError.WouldBlock)
        {
            throw new ExchangeFailedException($"nothing from {description} within {timeout.TotalSeconds:0.#} s (waiting for {expected})");
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            throw new ExchangeFailedException($"{description} is gone: {e.Message}");
        }
    }

    public void Dispose() => socket.Dispose();
}
