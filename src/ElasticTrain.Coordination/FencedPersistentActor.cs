using Akka.Actor;
using Akka.Event;
using Akka.Persistence;

namespace ElasticTrain.Coordination;

/// <summary>
/// A persistent actor that must be the journal's only writer. It writes only while its node holds
/// the lease for its role (<see cref="Write{TEvent}"/>); when it has lost the lease, or a write or
/// a read fails, it stops without a word, and its supervisor starts another that reads the journal
/// anew. A failed write is either the store failing or another writer having written first (the
/// journal refuses a second event with the same sequence number): both end the same way. Only an
/// outage past its limit is the subclass's business (<see cref="JournalGone"/>).
/// </summary>
public abstract class FencedPersistentActor(Func<bool>? holdsLease, StoreOutage? outage) : ReceivePersistentActor
{
    private readonly ILoggingAdapter _log = Context.GetLogger();

    /// <summary>Whether this node holds the lease (always, without one).</summary>
    protected bool MayWrite() => holdsLease?.Invoke() != false;

    /// <summary>Persists an event, unless this node no longer holds the lease: then it stops, writing nothing.</summary>
    protected void Write<TEvent>(TEvent e, Action<TEvent> then)
    {
        if (!MayWrite())
        {
            _log.Warning("this node no longer holds the lease: stopping without writing {0}", e!.GetType().Name);
            Context.Stop(Self);
            return;
        }
        Persist(e, written => { outage?.Recovered(); then(written); });
    }

    /// <summary>
    /// Persists events in one atomic write (all or none), unless this node no longer holds the
    /// lease; <paramref name="then"/> runs once, after the last.
    /// </summary>
    protected void WriteAll<TEvent>(IReadOnlyList<TEvent> events, Action then)
    {
        if (!MayWrite())
        {
            _log.Warning("this node no longer holds the lease: stopping without writing {0}", events[0]!.GetType().Name);
            Context.Stop(Self);
            return;
        }
        var left = events.Count;
        PersistAll(events, _ =>
        {
            if (--left > 0) return;
            outage?.Recovered();
            then();
        });
    }

    /// <summary>The journal answered (recovery completed): an outage, if any, is over.</summary>
    protected void JournalAnswered() => outage?.Recovered();

    /// <summary>The journal has failed for longer than the outage limit (or there is no limit): end for good.</summary>
    protected abstract void JournalGone(string reason);

    protected override void OnPersistFailure(Exception cause, object @event, long sequenceNr)
    {
        JournalFailed($"cannot write the journal: {cause.GetBaseException().Message}");
        base.OnPersistFailure(cause, @event, sequenceNr);
    }

    protected override void OnPersistRejected(Exception cause, object @event, long sequenceNr)
    {
        JournalFailed($"the journal refused an event: {cause.GetBaseException().Message}");
        base.OnPersistRejected(cause, @event, sequenceNr);
    }

    protected override void OnRecoveryFailure(Exception reason, object? message = null)
    {
        JournalFailed($"cannot read the journal: {reason.GetBaseException().Message}");
        base.OnRecoveryFailure(reason, message);
    }

    private void JournalFailed(string reason)
    {
        if (outage is not null && !outage.Failed(DateTime.UtcNow))
        {
            _log.Warning("{0}; stopping, to start again and read the journal anew", reason);
            Context.Stop(Self);
            return;
        }
        JournalGone(outage is null ? reason : $"{reason} (failing for {outage.Limit.TotalSeconds:0} s)");
    }
}
