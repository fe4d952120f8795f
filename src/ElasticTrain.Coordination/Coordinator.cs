using System.Diagnostics;
using Akka.Actor;
using Akka.Event;
using Akka.Persistence;
using ElasticTrain.Checkpointing;
using ElasticTrain.Jobs;
using ElasticTrain.Ranks;

namespace ElasticTrain.Coordination;

/// <summary>
/// The job's coordinator: an event-sourced actor (run as a cluster singleton) that admits ranks
/// into generations, plans and dispatches steps, commits them once every rank has applied the
/// exchange, and has checkpoints written. Its durable decisions go to the journal
/// (<see cref="IJobEvent"/>); its state is the pure fold <see cref="JobState"/>.
///
/// Failure model: when a rank dies or a step fails, a new generation starts from the last
/// checkpoint (or the seed), so no half-applied step survives; the steps after that checkpoint
/// are replayed and checked against the losses journaled for them.
/// </summary>
public sealed class Coordinator : ReceivePersistentActor, IWithTimers
{
    /// <param name="Requested">This run's job config; its identity must match the journal's.</param>
    /// <param name="ExpectedRanks">How many ranks to wait for before the first generation.</param>
    /// <param name="MaxAttempts">Consecutive failed generations without a committed step before giving up.</param>
    public sealed record Setup(
        JobConfig Requested, string IdentityHash, string DataFingerprint, int ExpectedRanks,
        CheckpointStore Checkpoints, TimeSpan StepTimeout, int MaxAttempts = 3);

    public static Props Props(Setup setup) => Akka.Actor.Props.Create(() => new Coordinator(setup));

    private sealed record StepTimedOut(long Generation, long Step);

    private readonly Setup _setup;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private JobState _state = JobState.Empty;
    private readonly Dictionary<string, IActorRef> _ranks = new(StringComparer.Ordinal);
    private readonly HashSet<string> _ready = new(StringComparer.Ordinal);
    private readonly Dictionary<string, StepDone> _done = new(StringComparer.Ordinal);
    private string[] _members = []; // the current generation's ranks, in ring order
    private StepPlan? _plan;
    private readonly Stopwatch _stepClock = new();
    private int _failedAttempts;
    private bool _awaitingGeneration; // set once recovery has been checked (Begin), then after each abort
    private int _required; // ranks to wait for before the next generation starts

    public Coordinator(Setup setup)
    {
        _setup = setup;
        _required = setup.ExpectedRanks;
        PersistenceId = "job-" + setup.Requested.Id;
        Recover<IJobEvent>(e => _state = _state.Updated(e));
        Recover<SnapshotOffer>(offer => { if (offer.Snapshot is JobState state) _state = state; });
        Recover<RecoveryCompleted>(_ => Self.Tell(Begin.Instance));
        Commands();
    }

    public override string PersistenceId { get; }

    public ITimerScheduler Timers { get; set; } = null!;

    private JobConfig Job => _setup.Requested;

    private sealed class Begin { public static readonly Begin Instance = new(); }

    private void OnBegin()
    {
        if (_state.IdentityHash is { } journaled && journaled != _setup.IdentityHash)
        {
            var differences = string.Join(", ", Job.IdentityDifferences(_state.Config!));
            Fail($"job '{Job.Id}' exists with another configuration ({(differences.Length > 0 ? differences : "data changed")}); use a new --job id", badInput: true);
            return;
        }
        if (_state.CompletedAt >= Job.Steps && _state.CompletedAt > 0)
        {
            Publish(new JobFinished(Job.Id, _state.CompletedAt, AlreadyFinished: true));
            Context.Stop(Self);
            return;
        }
        _awaitingGeneration = true;
        if (_state.Config is null)
            Persist(new JobStarted(Job, _setup.IdentityHash, _setup.DataFingerprint), e => { _state = _state.Updated(e); TryStartGeneration(); });
        else
            TryStartGeneration();
    }

    private void Commands()
    {
        Command<Begin>(_ => OnBegin());
        // A rank that registers while a generation runs waits for the next one.
        Command<RegisterRank>(register =>
        {
            _ranks[register.Rank] = register.Endpoint;
            Context.Watch(register.Endpoint);
            _log.Info("rank {0} registered ({1} of {2})", register.Rank, _ranks.Count, _setup.ExpectedRanks);
            TryStartGeneration();
        });
        Command<Terminated>(t =>
        {
            var gone = _ranks.FirstOrDefault(r => r.Value.Equals(t.ActorRef)).Key;
            if (gone is null) return;
            _ranks.Remove(gone);
            if (_members.Contains(gone)) RestartGeneration($"rank {gone} stopped");
        });
        Command<StepFailed>(failed =>
        {
            if (failed.Generation == _state.Generation) RestartGeneration($"rank {failed.Rank} failed step {failed.Step}: {failed.Reason}");
        });
        Command<StepTimedOut>(timeout =>
        {
            if (timeout.Generation == _state.Generation && _plan?.Step == timeout.Step)
                RestartGeneration($"step {timeout.Step} did not finish within {_setup.StepTimeout.TotalSeconds:0} s");
        });
        Command<RankReady>(OnRankReady);
        Command<StepDone>(OnStepDone);
        Command<CheckpointWritten>(OnCheckpointWritten);
        Command<CheckpointFailed>(failed =>
        {
            if (failed.Generation == _state.Generation) Fail($"cannot write checkpoint of step {failed.Step}: {failed.Reason}", badInput: false);
        });
        Command<SaveSnapshotSuccess>(s => DeleteSnapshots(new SnapshotSelectionCriteria(s.Metadata.SequenceNr - 1)));
        Command<SaveSnapshotFailure>(f => _log.Warning("snapshot failed: {0}", f.Cause.Message));
        Command<DeleteSnapshotsSuccess>(_ => { });
        Command<DeleteSnapshotsFailure>(_ => { });
    }

    // ---- generations ----

    private void TryStartGeneration()
    {
        if (!_awaitingGeneration || _state.Config is null || _ranks.Count < _required) return;
        _awaitingGeneration = false;
        var members = _ranks.Keys.Order(StringComparer.Ordinal).ToArray();
        Persist(new GenerationStarted(_state.Generation + 1, members), e =>
        {
            _state = _state.Updated(e);
            _members = members;
            _ready.Clear();
            _done.Clear();
            _plan = null;
            var endpoints = members.Select(m => new RankEndpoint(m, _ranks[m])).ToArray();
            foreach (var endpoint in endpoints)
                endpoint.Endpoint.Tell(new PrepareRank(_state.Generation, endpoints, _state.LastCheckpoint));
            _log.Info("generation {0}: {1} ranks, resuming at step {2}", _state.Generation, members.Length, _state.ResumeStep);
        });
    }

    private void RestartGeneration(string reason)
    {
        _log.Warning("generation {0} aborted: {1}", _state.Generation, reason);
        _plan = null;
        Timers.Cancel("step-timeout");
        if (++_failedAttempts >= _setup.MaxAttempts)
        {
            Fail($"giving up after {_failedAttempts} failed attempts; last: {reason}", badInput: false);
            return;
        }
        if (_ranks.Count == 0) { Fail($"no ranks left ({reason})", badInput: false); return; }
        // Go on with whoever is left: the global batch is fixed, so the math does not change.
        _required = Math.Min(_required, _ranks.Count);
        _awaitingGeneration = true;
        TryStartGeneration();
    }

    private void OnRankReady(RankReady ready)
    {
        if (ready.Generation != _state.Generation || _plan is not null) return;
        _ready.Add(ready.Rank);
        if (_ready.Count < _members.Length) return;
        Publish(new JobRunning(Job.Id, _state.ResumeStep, Job.Steps, _state.Generation, _members.Length, _state.LastCheckpoint));
        Dispatch(_state.ResumeStep);
    }

    // ---- steps ----

    private void Dispatch(long step)
    {
        _done.Clear();
        _plan = StepPlanner.Plan(step, _members, Job.GlobalBatch);
        var next = step < Job.Steps ? StepPlanner.Plan(step + 1, _members, Job.GlobalBatch) : null;
        foreach (var slice in _plan.Slices)
            _ranks[slice.Rank].Tell(new RunStep(_state.Generation, _plan, next));
        _stepClock.Restart();
        Timers.StartSingleTimer("step-timeout", new StepTimedOut(_state.Generation, step), _setup.StepTimeout);
    }

    private void OnStepDone(StepDone done)
    {
        if (done.Generation != _state.Generation || _plan is null || done.Step != _plan.Step) return;
        _done[done.Rank] = done;
        if (_done.Count < _plan.Slices.Count) return;

        Timers.Cancel("step-timeout");
        _failedAttempts = 0;
        var step = _plan.Step;
        var loss = _done.Values.Sum(d => d.LossSum) / Job.GlobalBatch;
        var stepMs = _stepClock.Elapsed.TotalMilliseconds;
        var world = _plan.Slices.Count;
        var maxExchange = _done.Values.Max(d => d.ExchangeMs);
        if (step > _state.CommittedStep)
        {
            Persist(new StepCommitted(step, loss, _state.Generation, world), e =>
            {
                _state = _state.Updated(e);
                Publish(new StepCommittedNotice(step, loss, world, _state.Generation,
                    DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), stepMs, Job.GlobalBatch, maxExchange));
                AfterStep(step);
            });
        }
        else
        {
            Publish(new StepReplayed(step, loss, _state.JournaledLoss(step), _state.Generation));
            AfterStep(step);
        }
    }

    private void AfterStep(long step)
    {
        if (step % Job.CheckpointEvery == 0 || step == Job.Steps)
        {
            var writer = _plan!.Slices[0].Rank; // any replica will do: they are identical
            var path = _setup.Checkpoints.PathFor(Job.Id, step);
            _ranks[writer].Tell(new WriteCheckpoint(_state.Generation, step, path, _plan.Slices.Count));
            return; // continues in OnCheckpointWritten
        }
        Continue(step);
    }

    private void OnCheckpointWritten(CheckpointWritten written)
    {
        if (written.Generation != _state.Generation || _plan is null || written.Step != _plan.Step) return;
        var checkpoint = new CheckpointRef(written.Step, written.Path, written.Sha256);
        Persist(new CheckpointTaken(checkpoint), e =>
        {
            _state = _state.Updated(e);
            SaveSnapshot(_state);
            _setup.Checkpoints.Prune(Job.Id, written.Path);
            Publish(new CheckpointNotice(written.Step, written.Path, _state.Generation));
            Continue(written.Step);
        });
    }

    private void Continue(long step)
    {
        if (step < Job.Steps) { Dispatch(step + 1); return; }
        Persist(new JobCompleted(step), e =>
        {
            _state = _state.Updated(e);
            _plan = null;
            Publish(new JobFinished(Job.Id, step, AlreadyFinished: false));
            Context.Stop(Self);
        });
    }

    // ---- failure ----

    private void Fail(string reason, bool badInput)
    {
        // No log line: whoever hosts the job reports JobFailed to the user once.
        Publish(new JobFailed(reason, badInput));
        Context.Stop(Self);
    }

    protected override void OnPersistFailure(Exception cause, object @event, long sequenceNr)
    {
        Publish(new JobFailed($"cannot write the journal: {cause.GetBaseException().Message}", BadInput: false));
        base.OnPersistFailure(cause, @event, sequenceNr);
    }

    protected override void OnRecoveryFailure(Exception reason, object? message = null)
    {
        Publish(new JobFailed($"cannot read the journal: {reason.GetBaseException().Message}", BadInput: false));
        base.OnRecoveryFailure(reason, message);
    }

    private void Publish(object notice) => Context.System.EventStream.Publish(notice);
}
