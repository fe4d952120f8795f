using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using ElasticTrain.Configuration;

namespace ElasticTrain.Collectives.Transport;

/// <summary>
/// A process's data plane: one TCP listener for gradient bytes, apart from the cluster's own
/// connection (so bulk transfers never hold back heartbeats), and the ports of the ranks hosted
/// here. The actors decide who exchanges with whom; this only moves bytes. Links between two ranks
/// of this process skip the sockets altogether (<see cref="LocalLink"/>).
/// </summary>
public sealed class TensorTransport : IDisposable
{
    private static readonly TimeSpan HelloTimeout = TimeSpan.FromSeconds(10);
    private readonly TcpListener _listener;
    private readonly ConcurrentDictionary<string, RankPort> _ports = new();
    private volatile bool _disposed;

    /// <param name="host">The address peers reach this process at (the cluster's hostname).</param>
    /// <param name="port">0 for any free port.</param>
    public TensorTransport(string host, int port = 0)
    {
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
    /// A link to <paramref name="to"/>. Connecting gives up after <paramref name="timeout"/>, or at
    /// once when <paramref name="cancellation"/> fires (the generation ended, the rank stopped).
    /// </summary>
    internal IOutboundLink Connect(long generation, string from, ExchangeMember to, TimeSpan timeout, CancellationToken cancellation)
    {
        var description = $"link {from} -> {to.Rank} (generation {generation})";
        if (to.Address == Address)
        {
            if (!_ports.TryGetValue(to.Rank, out var peer))
                throw new ExchangeFailedException($"{to.Rank} is not hosted here any more");
            var link = new LocalLink(description);
            peer.Offer(generation, from, link);
            return link;
        }
        if (!HostPort.TryParse(to.Address, out var host, out var portNumber))
            throw new ExchangeFailedException($"{to.Rank} advertises a bad data-plane address '{to.Address}'");
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        try
        {
            SocketIo.Connect(socket, host, portNumber, timeout, cancellation);
            SocketIo.Tune(socket);
            new Hello(generation, from, to.Rank).Write(socket);
            return new TcpOutboundLink(socket, description);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException or TimeoutException)
        {
            socket.Dispose();
            cancellation.ThrowIfCancellationRequested();
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
            // The hello is read off the accepting thread, so a silent client cannot stall the listener.
            _ = Task.Run(() => Route(socket));
        }
    }

    private void Route(Socket socket)
    {
        try
        {
            SocketIo.Tune(socket);
            socket.ReceiveTimeout = (int)HelloTimeout.TotalMilliseconds;
            var hello = Hello.Read(socket);
            if (_ports.TryGetValue(hello.To, out var port))
            {
                port.Offer(hello.Generation, hello.From, new TcpInboundLink(socket, $"link {hello.From} -> {hello.To} (generation {hello.Generation})"));
                return;
            }
        }
        catch (Exception e) when (e is SocketException or InvalidDataException or ObjectDisposedException)
        {
            // Not one of ours, or gone before it said who it is: nothing to route.
        }
        socket.Dispose();
    }

    public void Dispose()
    {
        _disposed = true;
        _listener.Stop();
        foreach (var port in _ports.Values) port.Dispose();
    }
}
