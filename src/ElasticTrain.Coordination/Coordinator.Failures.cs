using Akka.Actor;
using Akka.Event;
using ElasticTrain.Jobs;
using ElasticTrain.Ranks;

namespace ElasticTrain.Coordination;

// How the coordinator ends a generation that failed: it asks the members whether they live,
// leaves the silent ones out of the next generation at once, and lets them back in when they
// register anew or the failure detector had its chance to remove them.
public sealed partial class Coordinator
{
    private sealed record LivenessDeadline(long Generation);
    private sealed record SuspicionExpired(RankId Rank, IActorRef Endpoint);
    private sealed record ProbeAwaited(long Generation, long Step);

    /// <param name="Waiting">What the coordinator waits for, for the log.</param>
    /// <param name="Unanswered">The ranks asked at the last probe that have not answered yet.</param>
    private sealed record AwaitedRanks(long Step, string Waiting, IReadOnlyList<RankId> Ranks, IReadOnlySet<RankId> Unanswered);

    private AwaitedRanks? _awaited;
    private long _aborted = -1; // the last generation ended by a failure

    /// <summary>
    /// Ranks the coordinator waits on while no exchange runs whose broken links would tell of their
    /// death: the rank writing a checkpoint, and the members that have not reported a step the
    /// others have finished (a ring ends at about the same moment on every member, so a member that
    /// died after its neighbours' last frames left nothing behind to fail). They are asked whether
    /// they live every liveness interval; one that misses an answer ends the generation at once,
    /// instead of waiting for the failure detector.
    /// </summary>
    private void WatchAwaited(long step, string waiting, IReadOnlyList<RankId> ranks)
    {
        _awaited = new AwaitedRanks(step, waiting, ranks, new HashSet<RankId>());
        Timers.StartPeriodicTimer("awaited-probe", new ProbeAwaited(_state.Generation, step), _setup.Liveness);
    }

    private void StopWatchingAwaited()
    {
        _awaited = null;
        Timers.Cancel("awaited-probe");
    }

    private void OnProbeAwaited(ProbeAwaited probe)
    {
        if (_awaited is not { } watched || probe.Generation != _state.Generation || watched.Step != probe.Step)
        {
            StopWatchingAwaited();
            return;
        }
        if (watched.Unanswered.Count > 0)
        {
            Abort($"rank {watched.Unanswered.Order().First()} did not answer while {watched.Waiting}", verify: true);
            return;
        }
        var asked = watched.Ranks.Where(_roster.Contains).ToHashSet();
        _awaited = watched with { Unanswered = asked };
        foreach (var rank in asked) _roster[rank].Endpoint.Tell(GetRankStatus.Instance);
    }

    private void OnRankStatus(RankStatus status)
    {
        if (_awaited is { } watched && watched.Unanswered.Contains(status.Rank))
            _awaited = watched with { Unanswered = watched.Unanswered.Where(r => r != status.Rank).ToHashSet() };
        if (_check is { } check && check.Answered(status.Rank)) EndLivenessCheck(); // any answer proves it lives
    }

    /// <summary>
    /// Ends the generation. With <paramref name="verify"/>, its members are first asked whether
    /// they live (<see cref="LivenessCheck"/>), and the silent ones are left out of the next one.
    /// </summary>
    private void Abort(string reason, bool verify)
    {
        // One failure is often seen several times (each rank's broken exchange, a shard's stop):
        // the generation ends once, and counts once toward giving up.
        if (_aborted == _state.Generation)
        {
            _log.Debug("generation {0} already aborted; also: {1}", _state.Generation, reason);
            return;
        }
        _aborted = _state.Generation;
        _log.Warning("generation {0} aborted: {1}", _state.Generation, reason);
        var members = _members;
        _step = null;
        _members = [];
        _shardPrep = null;
        _squares = null;
        _trustRound = null;
        ForgetAhead();
        Timers.Cancel("step-timeout");
        StopWatchingAwaited();
        if (!verify || members.Length == 0) { RestartGeneration(reason, suspects: 0); return; }
        _check = new LivenessCheck(_state.Generation, members, reason);
        foreach (var member in members) _roster[member].Endpoint.Tell(GetRankStatus.Instance);
        Timers.StartSingleTimer("liveness", new LivenessDeadline(_state.Generation), _setup.Liveness);
    }

    private void EndLivenessCheck()
    {
        var check = _check!;
        _check = null;
        Timers.Cancel("liveness");
        foreach (var silent in check.Silent.Where(_roster.Suspect))
        {
            _log.Warning("rank {0} did not answer after generation {1} failed: left out until it registers again", silent, check.Generation);
            Timers.StartSingleTimer(("suspect", silent), new SuspicionExpired(silent, _roster[silent].Endpoint), _setup.Suspicion);
        }
        RestartGeneration(check.Reason, check.Silent.Count);
    }

    private void RestartGeneration(string reason, int suspects)
    {
        // A member that died explains the failure: only unexplained failures count toward giving up.
        if (suspects == 0 && ++_failedAttempts >= _setup.MaxAttempts)
        {
            Fail($"giving up after {_failedAttempts} failed attempts; last: {reason}", badInput: false);
            return;
        }
        if (_roster.Count == 0) { Fail($"no ranks left ({reason})", badInput: false); return; }
        // Go on with whoever is left: the global batch is fixed, so the math does not change.
        _required = Math.Min(_required, _roster.Count);
        _awaitingGeneration = true;
        TryStartGeneration();
    }

    private void OnSuspicionExpired(SuspicionExpired expired)
    {
        // Still registered with the same actor after the failure detector had time to remove
        // it: it was alive after all, and joins at the next step boundary.
        if (!_roster.Contains(expired.Rank) || !_roster[expired.Rank].Endpoint.Equals(expired.Endpoint) || !_roster.Clear(expired.Rank)) return;
        _log.Info("rank {0} is no longer suspected", expired.Rank);
        if (_members.Length == 0) TryStartGeneration();
    }
}
