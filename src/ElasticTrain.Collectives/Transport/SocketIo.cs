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

    /// <summary>
    /// Connects within <paramref name="timeout"/>, or fails when <paramref name="cancellation"/>
    /// fires. Synchronous on purpose: after any asynchronous call .NET emulates blocking sends over
    /// epoll, which costs about a third of the bandwidth. The connect is cut short by disposing the
    /// socket, and only while it is still connecting, so a socket that made it is never closed late.
    /// </summary>
    public static void Connect(Socket socket, string host, int port, TimeSpan timeout, CancellationToken cancellation)
    {
        int state = Connecting;
        void Interrupt()
        {
            if (Interlocked.CompareExchange(ref state, Interrupted, Connecting) == Connecting) socket.Dispose();
        }
        using (new Timer(_ => Interrupt(), null, timeout, Timeout.InfiniteTimeSpan))
        using (cancellation.Register(Interrupt))
        {
            try { socket.Connect(host, port); }
            catch (Exception e) when (e is SocketException or ObjectDisposedException && Volatile.Read(ref state) == Interrupted)
            {
                throw new TimeoutException($"no connection within {timeout.TotalSeconds:0.#} s");
            }
            if (Interlocked.CompareExchange(ref state, Connected, Connecting) != Connecting)
                throw new TimeoutException($"no connection within {timeout.TotalSeconds:0.#} s");
        }
    }

    private const int Connecting = 0, Connected = 1, Interrupted = 2;

    /// <summary>
    /// No Nagle delay. The buffer sizes are left to the kernel's autotuning on purpose: setting
    /// them turns autotuning off, and a default kernel caps a requested size at about 200 KiB
    /// (net.core.wmem_max); measured here, autotuned buffers were as fast or faster.
    /// </summary>
    public static void Tune(Socket socket) => socket.NoDelay = true;
}
