using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using ElasticTrain.Configuration;

namespace ElasticTrain.Collectives.Transport;

/// <summary>
/// A process's data plane: one TCP listener for tensor bytes (gradients, activations), apart from
/// the cluster's own connection (so bulk transfers never hold back heartbeats), and the ports of
/// the ranks hosted here. The actors decide who exchanges with whom; this only moves bytes. Links
/// between two ranks of this process skip the sockets altogether (<see cref="LocalLink"/>).
/// <para>
/// Every connection starts with <see cref="DataPlaneHandshake"/>: both ends prove they hold the
/// job's secret. Whatever fails it (garbage, another job, a stale or unknown rank) is closed and
/// logged as one warning, on the connection's own task; the listener and the ranks carry on.
/// </para>
/// </summary>
public sealed class TensorTransport : IDisposable
{
    /// <summary>The whole handshake must arrive within this, so a silent or trickling client cannot hold a thread long.</summary>
    private static readonly TimeSpan HelloTimeout = TimeSpan.FromSeconds(10);
    /// <summary>Handshakes in progress at once; more connections are refused until some finish.</summary>
    private const int MaxHandshakes = 64;

    private readonly TcpListener _listener;
    private readonly byte[] _secret;
    private readonly Action<string> _warn;
    private readonly ConcurrentDictionary<string, RankPort> _ports = new();
    private int _handshakes;
    private volatile bool _disposed;

    /// <param name="host">The address peers reach this process at (the cluster's hostname).</param>
    /// <param name="secret">The job's data-plane secret (at least 16 bytes), the same in every process of the job.</param>
    /// <param name="port">0 for any free port.</param>
    /// <param name="warn">Where refused connections are reported, one line each; by default nowhere.</param>
    public TensorTransport(string host, byte[] secret, int port = 0, Action<string>? warn = null)
    {
        _secret = DataPlaneHandshake.CheckSecret(secret).ToArray();
        _warn = warn ?? (_ => { });
        var addresses = Dns.GetHostAddresses(host);
        var local = addresses.FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork) ?? addresses.First();
        _listener = new TcpListener(local, port);
        _listener.Start(backlog: 64);
        Address = $"{host}:{((IPEndPoint)_listener.LocalEndpoint).Port}";
        new Thread(Accept) { Name = "data-plane accept", IsBackground = true }.Start();
    }

    /// <summary>HOST:PORT, as the ranks of this process advertise it.</summary>
    public string Address { get; }

    public RankPort Open(string rank)
    {
        var port = new RankPort(this, rank);
        if (!_ports.TryAdd(rank, port)) throw new InvalidOperationException($"rank {rank} already has a port here");
        return port;
    }

    internal void Detach(RankPort port) => _ports.TryRemove(new KeyValuePair<string, RankPort>(port.Rank, port));

    /// <summary>
    /// A link to <paramref name="to"/> for <paramref name="channel"/>. Connecting gives up after
    /// <paramref name="timeout"/>, or at once when <paramref name="cancellation"/> fires (the
    /// generation ended, the rank stopped).
    /// </summary>
    /// <param name="peerGone">Told when the peer's end of a TCP link closes: its process died, or it left the generation.</param>
    internal IOutboundLink Connect(long generation, string from, ExchangeMember to, DataChannel channel, TimeSpan timeout, CancellationToken cancellation,
        Action? peerGone = null)
    {
        var description = Describe(channel, from, to.Rank, generation);
        if (to.Address == Address)
        {
            if (!_ports.TryGetValue(to.Rank, out var peer))
                throw new ExchangeFailedException($"{to.Rank} is not hosted here any more");
            var link = new LocalLink(description);
            if (!peer.Offer(generation, from, channel, link))
                throw new ExchangeFailedException($"{to.Rank} refused {description}: its generation is over there, or it stopped");
            return link;
        }
        if (!HostPort.TryParse(to.Address, out var host, out var portNumber))
            throw new ExchangeFailedException($"{to.Rank} advertises a bad data-plane address '{to.Address}'");
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        try
        {
            SocketIo.Connect(socket, host, portNumber, timeout, cancellation);
            SocketIo.Tune(socket);
            socket.ReceiveTimeout = (int)Math.Min(int.MaxValue, timeout.TotalMilliseconds);
            using (cancellation.Register(socket.Dispose))
                DataPlaneHandshake.Offer(socket, _secret, new Hello(generation, from, to.Rank, channel));
            cancellation.ThrowIfCancellationRequested();
            return new TcpOutboundLink(socket, description, peerGone);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException or TimeoutException or InvalidDataException or OperationCanceledException)
        {
            socket.Dispose();
            cancellation.ThrowIfCancellationRequested();
            if (e is InvalidDataException)
                throw new ExchangeFailedException($"the data plane of {to.Rank} at {to.Address} failed the handshake: {e.Message}");
            throw new ExchangeFailedException($"cannot reach {to.Rank} at {to.Address}: {e.Message}");
        }
    }

    private void Accept()
    {
        while (!_disposed)
        {
            Socket socket;
            try { socket = _listener.AcceptSocket(); }
            catch (Exception e) when (e is SocketException or ObjectDisposedException or InvalidOperationException)
            {
                if (!_disposed) Thread.Sleep(100); // e.g. out of file descriptors: do not spin
                continue;
            }
            if (Interlocked.Increment(ref _handshakes) > MaxHandshakes)
            {
                Interlocked.Decrement(ref _handshakes);
                Refuse(socket, RemoteOf(socket), $"{MaxHandshakes} handshakes already in progress");
                continue;
            }
            // The handshake runs off the accepting thread, so a silent client cannot stall the listener.
            _ = Task.Run(() =>
            {
                try { Route(socket); }
                finally { Interlocked.Decrement(ref _handshakes); }
            });
        }
    }

    private void Route(Socket socket)
    {
        var remote = RemoteOf(socket);
        int state = Handshaking;
        using var deadline = new Timer(_ =>
        {
            if (Interlocked.CompareExchange(ref state, Expired, Handshaking) == Handshaking) socket.Dispose();
        }, null, HelloTimeout, Timeout.InfiniteTimeSpan);
        string refusal;
        try
        {
            SocketIo.Tune(socket);
            RankPort? port = null;
            var hello = DataPlaneHandshake.Answer(socket, _secret, h =>
                !_ports.TryGetValue(h.To, out port) ? $"no rank {Hello.Printable(h.To)} here" : port.Refuses(h.Generation));
            if (Interlocked.CompareExchange(ref state, Done, Handshaking) != Handshaking)
                throw new ObjectDisposedException(nameof(socket));
            if (port!.Offer(hello.Generation, hello.From, hello.Channel, new TcpInboundLink(socket, Describe(hello.Channel, hello.From, hello.To, hello.Generation))))
                return;
            refusal = $"hello {hello}: the generation ended during the handshake"; // the link is closed already
        }
        catch (InvalidDataException e) { refusal = e.Message; }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            refusal = Volatile.Read(ref state) == Expired ? $"no complete handshake within {HelloTimeout.TotalSeconds:0} s"
                : e is SocketException { SocketErrorCode: SocketError.ConnectionReset } ? "closed the connection during the handshake"
                : $"handshake failed: {e.Message}";
        }
        Refuse(socket, remote, refusal);
    }

    private const int Handshaking = 0, Done = 1, Expired = 2;

    /// <summary>How a link names itself in errors: both ends and the channel, so a failure says whom it waited for.</summary>
    private static string Describe(DataChannel channel, string from, string to, long generation) =>
        $"{channel} link {from} -> {to} (generation {generation})";

    private void Refuse(Socket socket, string remote, string reason)
    {
        socket.Dispose();
        if (!_disposed) _warn($"data plane {Address}: refused a connection from {remote}: {reason}");
    }

    private static string RemoteOf(Socket socket)
    {
        try { return socket.RemoteEndPoint?.ToString() ?? "an unknown address"; }
        catch (Exception e) when (e is SocketException or ObjectDisposedException) { return "an unknown address"; }
    }

    public void Dispose()
    {
        _disposed = true;
        _listener.Stop();
        foreach (var port in _ports.Values) port.Dispose();
    }
}
