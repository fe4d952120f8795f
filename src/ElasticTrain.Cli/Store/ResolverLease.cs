using System.Diagnostics;
using Akka.Actor;
using Akka.Cluster;
using Akka.Coordination;
using Akka.Event;

namespace ElasticTrain.Cli.Store;

/// <summary>
/// The split-brain resolver's lease: the store lease, except that a side that finds the other side
/// of the partition larger and alive in the store leaves the lease to it (<see cref="PartitionSides"/>).
/// It waits until the other side holds the lease, and then answers that it could not take it (its
/// resolver downs its own side); or until that side stops announcing itself (it died); or, at most,
/// <c>defer-at-most</c>, after which it asks as usual: a live side that never asks must not cost
/// the job both sides.
/// <para>
/// Config, beside the store lease's: <c>job</c> (the id under which nodes announce themselves),
/// <c>alive-within</c> (how recent an announcement counts as alive: the nodes announce every 2 s,
/// and the survivors of a kill ask no sooner than failure detection plus stable-after plus the
/// minority's delay after the death, about 7 s, so a dead node is never taken for alive),
/// <c>defer-at-most</c> and <c>role</c> (the members that take part, as the resolver's own).
/// </para>
/// </summary>
public sealed class ResolverLease : Lease, IDisposable
{
    private static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(500);

    private readonly StoreLease _lease;
    private readonly Cluster _cluster;
    private readonly ILoggingAdapter _log;
    private readonly string _provider;
    private readonly string _connectionString;
    private readonly string _job;
    private readonly string _role;
    private readonly TimeSpan _aliveWithin;
    private readonly TimeSpan _deferAtMost;

    /// <summary>The constructor <see cref="LeaseProvider"/> calls.</summary>
    public ResolverLease(LeaseSettings settings, ExtendedActorSystem system) : base(settings)
    {
        var config = settings.LeaseConfig;
        _job = config.GetString("job", "");
        if (string.IsNullOrWhiteSpace(_job)) throw new ArgumentException($"resolver lease '{settings.LeaseName}': job is empty");
        _lease = new StoreLease(settings, system);
        _cluster = Cluster.Get(system);
        _log = Logging.GetLogger(system, typeof(ResolverLease));
        _provider = config.GetString("provider", "");
        _connectionString = config.GetString("connection-string", "");
        _role = config.GetString("role", "node");
        _aliveWithin = config.GetTimeSpan("alive-within", TimeSpan.FromSeconds(5));
        _deferAtMost = config.GetTimeSpan("defer-at-most", TimeSpan.FromSeconds(10));
    }

    public override Task<bool> Acquire() => Acquire(null);

    public override async Task<bool> Acquire(Action<Exception>? leaseLostCallback)
    {
        await LeaveToLargerSide().ConfigureAwait(false);
        return await _lease.Acquire(leaseLostCallback).ConfigureAwait(false);
    }

    public override Task<bool> Release() => _lease.Release();

    public override bool CheckLease() => _lease.CheckLease();

    public void Dispose() => _lease.Dispose();

    /// <summary>Returns when this side may ask for the lease (which then says whether another holds it).</summary>
    private async Task LeaveToLargerSide()
    {
        var started = Stopwatch.GetTimestamp();
        var deferring = false;
        while (Stopwatch.GetElapsedTime(started) < _deferAtMost)
        {
            var sides = PartitionSides.Of(_cluster.State, _role);
            if (sides.Other.Count == 0) return;
            IReadOnlyList<string> live;
            try
            {
                live = await JobMembers.SeenWithinAsync(_provider, _connectionString, _job, _aliveWithin, Settings.TimeoutSettings.OperationTimeout).ConfigureAwait(false);
            }
            catch (Exception e)
            {
                // Without the store's word there is nothing to defer to; the lease itself will say whether the store answers.
                _log.Warning("resolver lease: cannot read which nodes are alive ({0}); asking for the lease", e.GetBaseException().Message);
                return;
            }
            if (!sides.DefersTo(live))
            {
                if (deferring) _log.Warning("resolver lease: the other side is no longer alive in the store; asking for the lease");
                return;
            }
            if (!deferring)
            {
                _log.Warning("resolver lease: the other side of the partition ({0}) is larger and alive in the store: leaving the lease to it for up to {1} s",
                    string.Join(", ", sides.LiveOther(live).Select(JobMembers.EntryOf)), _deferAtMost.TotalSeconds);
                deferring = true;
            }
            if (await StoreLease.HolderOf(_provider, _connectionString, _lease.LeaseName, Settings.TimeoutSettings.OperationTimeout).ConfigureAwait(false) is { } holder
                && holder != _lease.Owner)
            {
                _log.Warning("resolver lease: the other side took it ({0})", holder);
                return;
            }
            await Task.Delay(Poll).ConfigureAwait(false);
        }
        _log.Warning("resolver lease: the larger side has not taken the lease within {0} s; asking for it", _deferAtMost.TotalSeconds);
    }
}
