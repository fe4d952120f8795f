using System.Net.Sockets;

namespace ElasticTrain.Collectives.Transport;

/// <summary>Whole-buffer reads and writes on a blocking socket.</summary>
internal static class SocketIo
{
    public static void WriteAll(Socket socket, ReadOnlySpan<byte> bytes)
    {
        while (bytes.Length > 0)
            bytes = bytes[socket.Send(bytes)..];
    }

    /// <summary>Fills <paramref name="bytes"/>; an orderly close by the peer is a <see cref="SocketException"/> too.</summary>
    public static void ReadAll(Socket socket, Span<byte> bytes)
    {
        while (bytes.Length > 0)
        {
            int read = socket.Receive(bytes);
            if (read == 0) throw new SocketException((int)SocketError.ConnectionReset);
            bytes = bytes[read..];
        }
    }

    /// <summary>Large socket buffers keep a 2-member ring streaming while the peer is busy adding.</summary>
    public static void Tune(Socket socket)
    {
        socket.NoDelay = true;
        socket.SendBufferSize = 4 << 20;
        socket.ReceiveBufferSize = 4 << 20;
    }
}
