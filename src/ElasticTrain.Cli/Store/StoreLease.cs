using System.Diagnostics;
using Akka.Actor;
using Akka.Coordination;
using Akka.Event;

namespace ElasticTrain.Cli.Store;

/// <summary>
/// An Akka.Coordination <see cref="Lease"/> arbitrated by the job's store (SQLite or PostgreSQL),
/// for the split-brain resolver's <c>lease-majority</c> and the coordinator singleton's
/// <c>use-lease</c>. The store already has to be shared and durable for the journal, so it is the
/// one arbiter every node can reach without another service.
/// <para>
/// Config (the block at the lease's config path): <c>lease-class</c>, <c>connection-string</c>,
/// <c>provider</c> (<c>SQLite.MS</c> or <c>PostgreSQL.15</c>), and Akka's <c>heartbeat-timeout</c>
/// (the time-to-live written to the store), <c>heartbeat-interval</c> (how often a holding is
/// renewed) and <c>lease-operation-timeout</c> (the bound on every store operation).
/// </para>
/// <para>
/// Failure semantics. <see cref="Acquire()"/> completes with false when the store answered that
/// another owner holds the lease, and faults with a <see cref="LeaseException"/> when the store
/// could not be reached or did not answer within the operation timeout (the acquisition may then
/// have landed; nobody renews it, so it expires after the time-to-live). A renewal that cannot
/// reach the store is retried at the next interval and is not by itself a loss; the holding is
/// lost when the store says another owner has it, or when no renewal has succeeded for
/// <c>heartbeat-timeout</c> measured locally from when the last successful statement was sent.
/// The store computes its expiry when the statement arrives, after it was sent, so (clocks running
/// at the same rate) the local deadline falls no later than the row's expiry: by the time anyone
/// else can take the lease this holder has stopped claiming it.
/// </para>
/// </summary>
public sealed class StoreLease : Lease, IDisposable
{
    private readonly LeaseTable _table;
    private readonly ActorSystem? _system;
    private readonly ILoggingAdapter _log;
    private readonly TimeSpan _ttl;
    private readonly TimeSpan _interval;
    private readonly TimeSpan _operationTimeout;
    // Serialises acquire, renew and release against each other; never held while a lost-callback runs.
    private readonly SemaphoreSlim _gate = new(1, 1);
    private volatile Holding? _holding;
    private volatile bool _disposed;
    private readonly string _name;

    /// <summary>The constructor <see cref="LeaseProvider"/> calls; the system is where <see cref="Held"/> finds the lease.</summary>
    public StoreLease(LeaseSettings settings, ExtendedActorSystem system) : this(settings, (ActorSystem)system) { }

    /// <summary>A lease outside any actor system (not findable through <see cref="Held"/>).</summary>
    public StoreLease(LeaseSettings settings) : this(settings, (ActorSystem?)null) { }

    private StoreLease(LeaseSettings settings, ActorSystem? system) : base(settings)
    {
        var connectionString = settings.LeaseConfig.GetString("connection-string", "");
        if (string.IsNullOrWhiteSpace(connectionString))
            throw new ArgumentException($"store lease '{settings.LeaseName}': connection-string is empty");
        // Akka names its leases per actor system ("elastictrain-singleton-..."), and every job's
        // system has the same name: the scope (the job id) keeps jobs sharing a store apart.
        var scope = settings.LeaseConfig.GetString("scope", "");
        _name = scope.Length > 0 ? $"{scope}/{settings.LeaseName}" : settings.LeaseName;
        _table = new LeaseTable(StoreDialect.For(settings.LeaseConfig.GetString("provider", "")), connectionString);
        _ttl = settings.TimeoutSettings.HeartbeatTimeout;
        _interval = settings.TimeoutSettings.HeartbeatInterval;
        _operationTimeout = settings.TimeoutSettings.OperationTimeout;
        _system = system;
        _log = system is null ? NoLogger.Instance : Logging.GetLogger(system, typeof(StoreLease));
        // Renewals stop with the system. The row is left to expire rather than released: a system
        // going down mid-handover should not hand the lease to someone else sooner than agreed.
        system?.RegisterOnTermination(Dispose);
    }

    /// <summary>The row's name: the scope (when configured) and Akka's lease name.</summary>
    public string LeaseName => _name;

    public string Owner => Settings.OwnerName;

    /// <summary>The fencing token of the current holding; 0 when not held. Grows with every change of holder.</summary>
    public long Token => _holding is { } h && IsValid(h) ? h.Token : 0;

    /// <summary>The lease of that name this process holds in <paramref name="system"/>, or null if it holds none (or the holding has lapsed).</summary>
    public static StoreLease? Held(ActorSystem system, string leaseName) =>
        HeldLeases.Find(system, leaseName) is { } lease && lease.CheckLease() ? lease : null;

    /// <summary>
    /// The owner of the lease of that (scoped) name if someone holds it now, else null; for
    /// messages to the user. A store that cannot be read answers null: the node finds out properly.
    /// </summary>
    public static async Task<string?> HolderOf(string provider, string connectionString, string leaseName, TimeSpan timeout)
    {
        try
        {
            var row = await new LeaseTable(StoreDialect.For(provider), connectionString).Read(leaseName, timeout).ConfigureAwait(false);
            return row is { RemainingMs: > 0 } ? row.Owner : null;
        }
        catch (Exception e) when (e is LeaseException or ArgumentException)
        {
            return null;
        }
    }

    public override Task<bool> Acquire() => Acquire(null);

    public override async Task<bool> Acquire(Action<Exception>? leaseLostCallback)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        (Holding Holding, Exception Cause)? lost = null;
        await _gate.WaitAsync().ConfigureAwait(false);
        try
        {
            var current = _holding;
            var sentAt = Stopwatch.GetTimestamp();
            var token = await _table.Acquire(LeaseName, Owner, (long)_ttl.TotalMilliseconds, current?.Token ?? 0, _operationTimeout).ConfigureAwait(false);
            if (token is null)
            {
                // The store says someone else has it. If this instance thought it held the lease,
                // that holding is over.
                if (current is not null && Drop(current))
                    lost = (current, new LeaseException($"lease '{LeaseName}' is held by another owner"));
                return false;
            }
            if (current is not null && token == current.Token)
            {
                // The same holding, renewed: acquiring twice is harmless.
                current.Renewed(sentAt);
                if (leaseLostCallback is not null) current.LostCallback = leaseLostCallback;
                return true;
            }
            // A new holding. If this instance held an older one, it lapsed in between (the token
            // moved on); it is replaced without a lost-callback because the caller holds the lease again.
            if (current is not null) Drop(current);
            var holding = new Holding(token.Value, sentAt, leaseLostCallback);
            _holding = holding;
            if (_system is not null) HeldLeases.Add(_system, this);
            // Off the caller's thread and context: renewals must not queue behind whatever the caller runs on.
            _ = Task.Run(() => RenewUntilLost(holding));
            return true;
        }
        finally
        {
            _gate.Release();
            if (lost is { } l) Lose(l.Holding, l.Cause);
        }
    }

    /// <summary>
    /// Stops renewing and expires the row if this owner holds it; true if it did. Locally the lease
    /// is released even when the store cannot be reached (then this faults with a
    /// <see cref="LeaseException"/> and the row expires after the time-to-live). The lost-callback
    /// is not called: giving the lease up is not losing it.
    /// </summary>
    public override async Task<bool> Release()
    {
        await _gate.WaitAsync().ConfigureAwait(false);
        try
        {
            var current = _holding;
            if (current is not null) Drop(current);
            return await _table.Release(LeaseName, Owner, current?.Token ?? 0, _operationTimeout).ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Local state only, no I/O: held, and the last successful acquire or renewal was sent less than the time-to-live ago.</summary>
    public override bool CheckLease() => _holding is { } h && IsValid(h);

    /// <summary>Stops renewing without releasing and forgets the holding; no lost-callback. The row expires after the time-to-live.</summary>
    public void Dispose()
    {
        _disposed = true;
        if (_holding is { } h) Drop(h);
    }

    private bool IsValid(Holding holding) => Stopwatch.GetElapsedTime(holding.ValidFrom) < _ttl;

    /// <summary>The holding's renewal loop: one renewal per interval until the holding ends.</summary>
    private async Task RenewUntilLost(Holding holding)
    {
        var stop = holding.Stop.Token;
        while (true)
        {
            // Wake for the next renewal, or earlier at the local deadline so a lapse is noticed on time.
            var untilDeadline = _ttl - Stopwatch.GetElapsedTime(holding.ValidFrom);
            var wait = untilDeadline < _interval ? untilDeadline : _interval;
            try
            {
                if (wait > TimeSpan.Zero) await Task.Delay(wait, stop).ConfigureAwait(false);
                await _gate.WaitAsync(stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            Exception? cause = null;
            try
            {
                if (_holding != holding) return;
                cause = await Renew(holding).ConfigureAwait(false);
            }
            finally
            {
                _gate.Release();
            }
            if (cause is not null)
            {
                Lose(holding, cause);
                return;
            }
        }
    }

    /// <summary>One renewal, under the gate. Returns why the holding is lost, or null if it still stands.</summary>
    private async Task<Exception?> Renew(Holding holding)
    {
        var remaining = _ttl - Stopwatch.GetElapsedTime(holding.ValidFrom);
        if (remaining <= TimeSpan.Zero)
        {
            Drop(holding);
            return new LeaseTimeoutException(
                $"lease '{LeaseName}' (token {holding.Token}) not renewed within {_ttl.TotalMilliseconds:0} ms; the store was unreachable");
        }
        var sentAt = Stopwatch.GetTimestamp();
        try
        {
            // Bounded by the local deadline as well, so an unanswered renewal cannot hold the loss up.
            if (await _table.Renew(LeaseName, Owner, holding.Token, (long)_ttl.TotalMilliseconds, Min(_operationTimeout, remaining)).ConfigureAwait(false))
            {
                holding.Renewed(sentAt);
                return null;
            }
        }
        catch (LeaseException e)
        {
            _log.Warning("Store lease {0}: renewal failed, retrying in {1} ms: {2}", LeaseName, _interval.TotalMilliseconds, e.Message);
            return null;
        }
        Drop(holding);
        return new LeaseException($"lease '{LeaseName}' (token {holding.Token}) was taken over{await DescribeHolder().ConfigureAwait(false)}");
    }

    private async Task<string> DescribeHolder()
    {
        try
        {
            return await _table.Read(LeaseName, _operationTimeout).ConfigureAwait(false) is { } row ? $" by {row.Owner} (token {row.Token})" : "";
        }
        catch (LeaseException)
        {
            return "";
        }
    }

    /// <summary>Ends the holding if it is still the current one; true if it was. Callers hold the gate or are disposing.</summary>
    private bool Drop(Holding holding)
    {
        if (Interlocked.CompareExchange(ref _holding, null, holding) != holding) return false;
        holding.Stop.Cancel();
        if (_system is not null) HeldLeases.Remove(_system, this);
        return true;
    }

    /// <summary>Calls the holding's lost-callback, outside the gate so the callback may call back into the lease.</summary>
    private void Lose(Holding holding, Exception cause)
    {
        _log.Warning("Store lease {0} lost: {1}", LeaseName, cause.Message);
        try
        {
            holding.LostCallback?.Invoke(cause);
        }
        catch (Exception e)
        {
            _log.Error(e, "Store lease {0}: lost-callback threw", LeaseName);
        }
    }

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;

    /// <summary>One uninterrupted holding of the lease under one fencing token.</summary>
    private sealed class Holding(long token, long validFrom, Action<Exception>? lostCallback)
    {
        private long _validFrom = validFrom;

        public long Token { get; } = token;

        public CancellationTokenSource Stop { get; } = new();

        public Action<Exception>? LostCallback { get; set; } = lostCallback;

        /// <summary>Stopwatch timestamp at which the last successful acquire or renewal was sent.</summary>
        public long ValidFrom => Volatile.Read(ref _validFrom);

        public void Renewed(long sentAt) => Volatile.Write(ref _validFrom, sentAt);
    }
}
