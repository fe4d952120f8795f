namespace ElasticTrain.Collectives.Transport;

/// <summary>
/// One rank's door to the data plane: its links to and from peers, formed lazily within a
/// generation and closed when the next one begins (membership changes re-form the ring and the
/// pipeline). Links that arrive for a later generation wait here until the rank gets there.
/// Thread-safe: the exchanges, the transport's listener and the rank's actor all call in.
/// <para>
/// A link is keyed by its peer and its <see cref="DataChannel"/> as well as its generation, so the
/// ring and a pipeline stage on the same pair of ranks each get their own connection and their
/// own ordered stream of frames: neither can read, or wait behind, the other's. It costs one
/// connection (a socket and a sending thread) per channel actually used between a pair.
/// </para>
/// </summary>
public sealed class RankPort : IDisposable
{
    private readonly TensorTransport _transport;
    private readonly object _gate = new();
    private readonly Dictionary<(string To, DataChannel Channel), IOutboundLink> _outbound = [];
    private readonly Dictionary<(long Generation, string From, DataChannel Channel), IInboundLink> _inbound = [];
    private long _generation;
    private long _aborts; // counts Abort calls, so a wait for a link that began before one ends
    private bool _disposed;
    private CancellationTokenSource _connects = new(); // cut short connects in progress: new generation, abort, dispose

    internal RankPort(TensorTransport transport, string rank)
    {
        _transport = transport;
        Rank = rank;
    }

    public string Rank { get; }

    /// <summary>The data-plane address of the process hosting this rank.</summary>
    public string Address => _transport.Address;

    /// <summary>Closes the links of earlier generations; their frames can never be mixed into this one.</summary>
    public void BeginGeneration(long generation)
    {
        var stale = new List<IDisposable>();
        lock (_gate)
        {
            if (generation <= _generation) return;
            _generation = generation;
            stale.Add(RenewConnects());
            stale.AddRange(_outbound.Values);
            _outbound.Clear();
            foreach (var key in _inbound.Keys.Where(k => k.Generation < generation).ToList())
            {
                stale.Add(_inbound[key]);
                _inbound.Remove(key);
            }
            Monitor.PulseAll(_gate);
        }
        stale.ForEach(l => l.Dispose());
    }

    /// <summary>The link to <paramref name="peer"/> for <paramref name="channel"/> in <paramref name="generation"/>, connecting on first use.</summary>
    public IOutboundLink Outbound(long generation, ExchangeMember peer, DataChannel channel, TimeSpan timeout, CancellationToken cancellation)
    {
        BeginGeneration(generation);
        CancellationToken connects;
        lock (_gate)
        {
            CheckCurrent(generation);
            if (_outbound.TryGetValue((peer.Rank, channel), out var link)) return link;
            connects = _connects.Token;
        }
        using var either = CancellationTokenSource.CreateLinkedTokenSource(connects, cancellation);
        IOutboundLink created;
        try { created = _transport.Connect(generation, Rank, peer, channel, timeout, either.Token, () => PeerGone(generation)); }
        catch (OperationCanceledException) when (!cancellation.IsCancellationRequested)
        {
            throw new ExchangeFailedException($"connecting to {peer.Rank} was cut short: generation {generation} ended or the links were closed");
        }
        lock (_gate)
        {
            if (_disposed || generation != _generation)
            {
                created.Dispose();
                throw new ExchangeFailedException($"generation {generation} ended while connecting to {peer.Rank}");
            }
            _outbound[(peer.Rank, channel)] = created;
            return created;
        }
    }

    /// <summary>
    /// Waits for <paramref name="peer"/>'s link to this rank for <paramref name="channel"/> in
    /// <paramref name="generation"/>. A new generation or an <see cref="Abort"/> ends the wait at once.
    /// </summary>
    public IInboundLink Inbound(long generation, string peer, DataChannel channel, TimeSpan timeout, CancellationToken cancellation)
    {
        BeginGeneration(generation);
        var deadline = DateTime.UtcNow + timeout;
        lock (_gate)
        {
            var aborts = _aborts;
            while (true)
            {
                cancellation.ThrowIfCancellationRequested();
                CheckCurrent(generation);
                if (_aborts != aborts)
                    throw new ExchangeFailedException($"the links of {Rank} were closed while it waited for {peer} to connect (generation {generation})");
                if (_inbound.TryGetValue((generation, peer, channel), out var link)) return link;
                var left = deadline - DateTime.UtcNow;
                if (left <= TimeSpan.Zero)
                    throw new ExchangeFailedException($"{peer} did not connect to {Rank} within {timeout.TotalSeconds:0.#} s (generation {generation})");
                // Cancellation does not pulse the gate: wake now and then to notice it.
                Monitor.Wait(_gate, left < TimeSpan.FromMilliseconds(200) ? left : TimeSpan.FromMilliseconds(200));
            }
        }
    }

    /// <summary>Why a link for <paramref name="generation"/> would not be taken now; null when it would.</summary>
    internal string? Refuses(long generation)
    {
        lock (_gate)
        {
            if (_disposed) return $"rank {Rank} has stopped";
            if (generation < _generation) return $"generation {generation} is over (rank {Rank} is in generation {_generation})";
            return null;
        }
    }

    /// <summary>
    /// A peer connected (from the listener, or directly within this process). False when the
    /// link was refused (its generation is over, or this port is closed); it is closed then.
    /// </summary>
    internal bool Offer(long generation, string from, DataChannel channel, IInboundLink link)
    {
        IInboundLink? replaced = null;
        bool taken;
        lock (_gate)
        {
            taken = !_disposed && generation >= _generation;
            if (!taken)
            {
                replaced = link;
            }
            else
            {
                _inbound.Remove((generation, from, channel), out replaced);
                _inbound[(generation, from, channel)] = link;
                Monitor.PulseAll(_gate);
            }
        }
        replaced?.Dispose();
        return taken;
    }

    /// <summary>
    /// Closes every link of the current generation: a blocked receive or send fails at once, and
    /// the neighbours' do in turn, so a failure travels round the ring and along the pipeline
    /// instead of waiting out timeouts. A wait for a peer to connect fails too.
    /// </summary>
    public void Abort() => Abort(generation: null);

    /// <param name="generation">Only if the port is still in this generation (checked under the same lock as the abort).</param>
    private void Abort(long? generation)
    {
        List<IDisposable> links;
        lock (_gate)
        {
            if (generation is { } only && (_disposed || only != _generation)) return;
            // Links a peer already opened for a later generation are not this one's: they stay
            // (unless the port is closing), or that generation would wait for them in vain.
            var closing = _inbound.Keys.Where(k => _disposed || k.Generation <= _generation).ToList();
            links = [RenewConnects(), .. _outbound.Values, .. closing.Select(k => _inbound[k])];
            _aborts++;
            _outbound.Clear();
            closing.ForEach(k => _inbound.Remove(k));
            Monitor.PulseAll(_gate);
        }
        links.ForEach(l => l.Dispose());
    }

    /// <summary>
    /// A peer of <paramref name="generation"/> closed its end of a link: it died, or it left the
    /// generation before this rank did. Either way this generation's exchanges with it cannot
    /// complete, so they fail now rather than at their timeouts.
    /// </summary>
    private void PeerGone(long generation) => Abort(generation);

    /// <summary>Under the gate: a fresh source for later connects; the old one, to cancel and dispose, as a disposable.</summary>
    private IDisposable RenewConnects()
    {
        var old = _connects;
        _connects = new CancellationTokenSource();
        return new CancelOnDispose(old);
    }

    private sealed class CancelOnDispose(CancellationTokenSource source) : IDisposable
    {
        public void Dispose()
        {
            source.Cancel();
            source.Dispose();
        }
    }

    private void CheckCurrent(long generation)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (generation != _generation)
            throw new ExchangeFailedException($"generation {generation} is over (now {_generation})");
    }

    public void Dispose()
    {
        lock (_gate) _disposed = true;
        Abort();
        _transport.Detach(this);
    }
}
