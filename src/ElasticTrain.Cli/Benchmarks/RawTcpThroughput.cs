using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace ElasticTrain.Cli.Benchmarks;

/// <summary>
/// One loopback TCP socket's one-way throughput: what the data plane could reach at best on this
/// machine, measured in the same run as the all-reduce so the two can be compared.
/// </summary>
public static class RawTcpThroughput
{
    /// <summary>Streams <paramref name="bytes"/> in 1 MiB writes from one thread to another; returns MB/s (10^6 bytes).</summary>
    public static double Measure(long bytes)
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        using var sender = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        sender.Connect(IPAddress.Loopback, ((IPEndPoint)listener.LocalEndpoint).Port);
        using var receiver = listener.AcceptSocket();
        var clock = Stopwatch.StartNew();
        var reading = Task.Factory.StartNew(() =>
        {
            var buffer = new byte[1 << 20];
            long left = bytes;
            while (left > 0)
            {
                int read = receiver.Receive(buffer, 0, (int)Math.Min(buffer.Length, left), SocketFlags.None);
                if (read == 0) throw new IOException("loopback socket closed early");
                left -= read;
            }
        }, TaskCreationOptions.LongRunning);
        var block = new byte[1 << 20];
        for (long sent = 0; sent < bytes; sent += block.Length)
        {
            var chunk = block.AsSpan(0, (int)Math.Min(block.Length, bytes - sent));
            while (chunk.Length > 0) chunk = chunk[sender.Send(chunk)..];
        }
        reading.GetAwaiter().GetResult();
        return bytes / clock.Elapsed.TotalSeconds / 1e6;
    }
}
