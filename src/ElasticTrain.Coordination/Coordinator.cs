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
/// into generations, plans and dispatches steps, commits each step once every rank has exchanged
/// its gradients, tells the ranks to apply it, and has checkpoints written. Its durable decisions
/// go to the journal (<see cref="IJobEvent"/>); its state is the pure fold <see cref="JobState"/>;
/// who takes part is the pure <see cref="Roster"/>; how a generation gets its state is the pure
/// <see cref="GenerationPlanner"/>.
///
/// Ranks apply a step only after its commit, so when a rank dies mid-step the survivors all hold
/// the last committed state: the next generation keeps it, joiners copy it from a live peer, and
/// only the interrupted step runs again. When a step fails, the members that no longer answer are
/// left out of the next generation at once (<see cref="LivenessCheck"/>), without waiting for the
/// failure detector. Ranks joining a running job are admitted at the next step boundary.
/// </summary>
public sealed class Coordinator : ReceivePersistentActor, IWithTimers
{
    /// <param name="Requested">This run's job config; its identity must match the journal's.</param>
    /// <param name="ExpectedRanks">How many ranks to wait for before the first generation.</param>
    /// <param name="MaxAttempts">Consecutive failed generations without a committed step before giving up; failures explained by a silent member do not count.</param>
    /// <param name="JoinSettle">
    /// Ranks that register mid-run join once no other rank has registered for this long (default
    /// 500 ms), so a node's ranks, which register within moments of each other, enter in one
    /// generation instead of one each. The job keeps stepping meanwhile.
    /// </param>
    /// <param name="LivenessTimeout">How long the members of a failed step have to answer before they are suspected (default 500 ms).</param>
    /// <param name="SuspicionTimeout">
    /// How long a suspect stays out unless it registers anew (default 10 s): by then the failure
    /// detector has removed a node that is really gone, so one still registered was alive.
    /// </param>
    /// <param name="HoldsLease">
    /// Whether this node still holds the store's lease for the coordinator; checked before every
    /// journal write, so a coordinator whose lease lapsed (paused, cut off) writes nothing more.
    /// Null: no lease (tests, a single process).
    /// </param>
    /// <param name="Outage">Shared by the coordinator instances of one node: how long the journal has been failing.</param>
    public sealed record Setup(
        JobConfig Requested, string IdentityHash, string DataFingerprint, int ExpectedRanks,
        CheckpointStore Checkpoints, TimeSpan StepTimeout, int MaxAttempts = 5, TimeSpan? JoinSettle = null,
        TimeSpan? LivenessTimeout = null, TimeSpan? SuspicionTimeout = null, Func<bool>? HoldsLease = null, StoreOutage? Outage = null)
    {
        public TimeSpan Settle => JoinSettle ?? TimeSpan.FromMilliseconds(500);
        public TimeSpan Liveness => LivenessTimeout ?? TimeSpan.FromMilliseconds(500);
        public TimeSpan Suspicion => SuspicionTimeout ?? TimeSpan.FromSeconds(10);
    }

    public static Props Props(Setup setup) => Akka.Actor.Props.Create(() => new Coordinator(setup));

    private sealed record StepTimedOut(long Generation, long Step);
    private sealed record LivenessDeadline(long Generation);
    private sealed record SuspicionExpired(RankId Rank, IActorRef Endpoint);
    private sealed class Begin { public static readonly Begin Instance = new(); }

    private readonly Setup _setup;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly Roster _roster = new();
    private readonly Throughput _throughput = new();
    private readonly Stopwatch _stepClock = new();
    private JobState _state = JobState.Empty;
    private RankId[] _members = [];               // this generation, ring order
    private GenerationPlanner.Plan? _generationPlan;
    private readonly HashSet<RankId> _ready = [];
    private StepTally? _step;                     // the step in flight
    private LivenessCheck? _check;                // a failed step's members, asked whether they live
    private int _failedAttempts;
    private bool _began;
    private bool _awaitingGeneration;
    private int _required;                        // ranks to wait for before the next generation starts

    public Coordinator(Setup setup)
    {
        _setup = setup;
        _required = setup.ExpectedRanks;
        PersistenceId = "job-" + setup.Requested.Id;
        Recover<IJobEvent>(e => _state = _state.Updated(e));
        Recover<SnapshotOffer>(offer => { if (offer.Snapshot is JobState state) _state = state; });
        Recover<RecoveryCompleted>(_ => { _setup.Outage?.Recovered(); Self.Tell(Begin.Instance); });
        Commands();
    }

    public override string PersistenceId { get; }

    public ITimerScheduler Timers { get; set; } = null!;

    private JobConfig Job => _setup.Requested;

    private void Commands()
    {
        Command<Begin>(_ => OnBegin());
        Command<GetJob>(_ =>
        {
            if (_began && _state.Config is not null) Sender.Tell(new JobDescription(Job, _setup.IdentityHash, _setup.DataFingerprint));
        });
        Command<RegisterRank>(OnRegister);
        Command<GetStatus>(_ => Sender.Tell(new JobStatusReport(Job.Id, _state.CommittedStep, Job.Steps, _state.Generation, _members,
            _roster.Idle(_members), _roster.Draining, _roster.TargetRanks, _throughput.SamplesPerSecond(Job.GlobalBatch))));
        Command<DrainNode>(drain => Sender.Tell(_roster.Drain(drain.Node)));
        Command<ScaleRanks>(scale => Sender.Tell(_roster.Scale(scale.Ranks)));
        Command<Terminated>(t =>
        {
            if (_roster.Remove(t.ActorRef) is { } gone && _members.Contains(gone)) Abort($"rank {gone} stopped", verify: false);
        });
        Command<StepFailed>(failed =>
        {
            if (failed.Generation == _state.Generation) Abort($"rank {failed.Rank} failed at step {failed.Step}: {failed.Reason}", verify: true);
        });
        Command<StepTimedOut>(timeout =>
        {
            if (timeout.Generation == _state.Generation && _step?.Step == timeout.Step)
                Abort($"step {timeout.Step} did not finish within {_setup.StepTimeout.TotalSeconds:0} s", verify: true);
        });
        Command<RankStatus>(status =>
        {
            if (_check is { } check && check.Answered(status.Rank)) EndLivenessCheck(); // any answer proves it lives
        });
        Command<LivenessDeadline>(deadline => { if (_check?.Generation == deadline.Generation) EndLivenessCheck(); });
        Command<SuspicionExpired>(expired =>
        {
            // Still registered with the same actor after the failure detector had time to remove
            // it: it was alive after all, and joins at the next step boundary.
            if (_roster.Contains(expired.Rank) && _roster[expired.Rank].Endpoint.Equals(expired.Endpoint) && _roster.Clear(expired.Rank))
            {
                _log.Info("rank {0} is no longer suspected", expired.Rank);
                if (_members.Length == 0) TryStartGeneration();
            }
        });
        Command<RankReady>(OnRankReady);
        Command<StepExchanged>(OnStepExchanged);
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

    private void OnBegin()
    {
        _began = true;
        if (_state.IdentityHash is { } journaled && journaled != _setup.IdentityHash)
        {
            var differences = string.Join(", ", Job.IdentityDifferences(_state.Config!));
            Fail($"job '{Job.Id}' exists with another configuration ({(differences.Length > 0 ? differences : "data changed")}); use a new --job id", badInput: true);
            return;
        }
        if (_state.CompletedAt >= Job.Steps && _state.CompletedAt > 0)
        {
            End(new JobFinished(Job.Id, _state.CompletedAt, AlreadyFinished: true));
            return;
        }
        _awaitingGeneration = true;
        if (_state.Config is null)
            Write(new JobStarted(Job, _setup.IdentityHash, _setup.DataFingerprint), e => { _state = _state.Updated(e); TryStartGeneration(); });
        else
            TryStartGeneration();
    }

    private void OnRegister(RegisterRank register)
    {
        switch (_roster.Register(register.Rank, register.Endpoint, register.DataPlane, register.StateStep, DateTime.UtcNow))
        {
            case Roster.Registration.Known:
                return;
            case Roster.Registration.Drained:
                register.Endpoint.Tell(new JobOver(Job.Id, _state.Generation, true, "drained"));
                return;
        }
        Context.Watch(register.Endpoint);
        _log.Info("rank {0} registered ({1} known)", register.Rank, _roster.Count);
        // Before the first generation it counts toward the start; later it joins at the next step boundary.
        TryStartGeneration();
    }

    // ---- generations ----

    private void TryStartGeneration()
    {
        var members = _roster.Desired();
        if (!_began || !_awaitingGeneration || _check is not null || _state.Config is null || members.Length == 0 || _roster.Count < _required) return;
        _awaitingGeneration = false;
        Write(new GenerationStarted(_state.Generation + 1, members.Select(m => m.ToString()).ToArray()), e =>
        {
            _state = _state.Updated(e);
            _members = members;
            _ready.Clear();
            _step = null;
            Timers.Cancel("step-timeout");
            var outside = _roster.Entries.Select(r => r.Id).Where(r => !members.Contains(r)).ToArray();
            var plan = GenerationPlanner.Decide(members, _roster.StateSteps, _state.CommittedStep, _state.LastCheckpoint, outside);
            _generationPlan = plan;
            var endpoints = members.Select(m => new RankEndpoint(m, _roster[m].Endpoint, _roster[m].DataPlane)).ToArray();
            foreach (var member in members)
                _roster[member].Endpoint.Tell(new PrepareRank(_state.Generation, endpoints, plan.Origins[member], plan.StateStep,
                    plan.Sends.TryGetValue(member, out var targets) ? targets : []));
            foreach (var helper in outside.Where(plan.Sends.ContainsKey))
                _roster[helper].Endpoint.Tell(new ServeState(_state.Generation, plan.StateStep,
                    plan.Sends[helper].Select(t => endpoints.First(e => e.Rank == t)).ToArray()));
            _log.Info("generation {0}: {1} ranks, resuming at step {2}", _state.Generation, members.Length, plan.ResumeStep);
            // Drained ranks are out of the generation now: their nodes may leave.
            foreach (var drained in _roster.Draining)
                _roster[drained].Endpoint.Tell(new JobOver(Job.Id, _state.Generation, true, "drained"));
        });
    }

    /// <summary>
    /// Ends the generation. With <paramref name="verify"/>, its members are first asked whether
    /// they live (<see cref="LivenessCheck"/>), and the silent ones are left out of the next one.
    /// </summary>
    private void Abort(string reason, bool verify)
    {
        _log.Warning("generation {0} aborted: {1}", _state.Generation, reason);
        var members = _members;
        _step = null;
        _members = [];
        Timers.Cancel("step-timeout");
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

    private void OnRankReady(RankReady ready)
    {
        if (ready.Generation != _state.Generation || _step is not null || _generationPlan is null || !_members.Contains(ready.Rank)) return;
        _roster.HoldsState(ready.Rank, ready.StateStep);
        if (ready.StateStep != _generationPlan.StateStep)
        {
            Abort($"rank {ready.Rank} prepared state at step {ready.StateStep}, not {_generationPlan.StateStep}", verify: false);
            return;
        }
        _ready.Add(ready.Rank);
        if (_ready.Count < _members.Length) return;
        var resumedFrom = _generationPlan.Origins.Values.OfType<LoadCheckpoint>().FirstOrDefault()?.Checkpoint;
        Publish(new JobRunning(Job.Id, _generationPlan.ResumeStep, Job.Steps, _state.Generation, _members.Length, resumedFrom));
        Dispatch(_generationPlan.ResumeStep);
    }

    // ---- steps ----

    private void Dispatch(long step)
    {
        var plan = StepPlanner.Plan(step, _members, Job.GlobalBatch, _roster.Speeds);
        var next = step < Job.Steps ? StepPlanner.Plan(step + 1, _members, Job.GlobalBatch, _roster.Speeds) : null;
        _step = new StepTally(plan);
        foreach (var slice in plan.Slices)
            _roster[slice.Rank].Endpoint.Tell(new RunStep(_state.Generation, plan, next));
        _stepClock.Restart();
        Timers.StartSingleTimer("step-timeout", new StepTimedOut(_state.Generation, step), _setup.StepTimeout);
    }

    private void OnStepExchanged(StepExchanged done)
    {
        if (done.Generation != _state.Generation || _step is not { } tally || !tally.Add(done) || !tally.Complete) return;
        Timers.Cancel("step-timeout");
        _failedAttempts = 0;
        foreach (var report in tally.Reports) _roster.MeasureSpeed(report.Rank, report.Samples, report.ComputeMs);
        var summary = tally.Summarize(Job.GlobalBatch);
        var stepMs = _stepClock.Elapsed.TotalMilliseconds;
        if (summary.Step <= _state.CommittedStep)
        {
            ApplyCommitted(summary.Step);
            Publish(new StepReplayed(summary.Step, summary.Loss, _state.JournaledLoss(summary.Step), _state.Generation));
            AfterStep(summary.Step);
            return;
        }
        Write(new StepCommitted(summary.Step, summary.Loss, _state.Generation, summary.World), e =>
        {
            _state = _state.Updated(e);
            ApplyCommitted(summary.Step);
            var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            _throughput.Committed(summary.Step, now);
            Publish(new StepCommittedNotice(summary.Step, summary.Loss, summary.World, _state.Generation, now, stepMs, Job.GlobalBatch,
                summary.MaxComputeMs, summary.MaxExchangeMs, summary.ExposedMs, summary.MaxWaitMs));
            Publish(new StepSamples(summary.Step, _state.Generation, summary.Samples));
            AfterStep(summary.Step);
        });
    }

    /// <summary>The commit is durable: every member applies the step (in mailbox order, before anything later).</summary>
    private void ApplyCommitted(long step)
    {
        foreach (var member in _members)
        {
            _roster[member].Endpoint.Tell(new ApplyStep(_state.Generation, step));
            _roster.HoldsState(member, step);
        }
    }

    private void AfterStep(long step)
    {
        if (step % Job.CheckpointEvery == 0 || step == Job.Steps)
        {
            var writer = _step!.Plan.Slices[0].Rank; // any replica will do: they are identical
            var path = _setup.Checkpoints.PathFor(Job.Id, step);
            _roster[writer].Endpoint.Tell(new WriteCheckpoint(_state.Generation, step, path, _step.Plan.Slices.Count));
            return; // continues in OnCheckpointWritten
        }
        Continue(step);
    }

    private void OnCheckpointWritten(CheckpointWritten written)
    {
        if (written.Generation != _state.Generation || _step is null || written.Step != _step.Step) return;
        var checkpoint = new CheckpointRef(written.Step, written.Path, written.Sha256);
        Write(new CheckpointTaken(checkpoint), e =>
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
        if (step < Job.Steps)
        {
            // Joins, drains and scale changes take effect here, at the boundary, as a new generation.
            var desired = _roster.Desired();
            if (!desired.SequenceEqual(_members) && !_roster.JoinersStillArriving(_members, desired, DateTime.UtcNow, _setup.Settle))
            {
                _step = null;
                _awaitingGeneration = true;
                _required = 1;
                TryStartGeneration();
                return;
            }
            Dispatch(step + 1);
            return;
        }
        Write(new JobCompleted(step), e =>
        {
            _state = _state.Updated(e);
            _step = null;
            End(new JobFinished(Job.Id, step, AlreadyFinished: false));
        });
    }

    // ---- the end ----

    private void Fail(string reason, bool badInput) =>
        // No log line: whoever hosts the job reports JobFailed to the user once.
        End(new JobFailed(reason, badInput));

    /// <summary>Tells this node (event stream) and every rank's node (<see cref="JobOver"/>), then stops.</summary>
    private void End(object outcome)
    {
        // This node's reporters hear the outcome before its ranks relay JobOver to the same stream.
        Publish(outcome);
        var over = outcome is JobFailed failed
            ? new JobOver(Job.Id, _state.Generation, false, failed.Reason)
            : new JobOver(Job.Id, _state.Generation, true, null);
        foreach (var rank in _roster.Entries) rank.Endpoint.Tell(over);
        // The job is over: a supervisor must not start another. Without a sender, so that a
        // backoff supervisor takes it as its final-stop message instead of passing it up.
        Context.Parent.Tell(CoordinatorEnded.Instance, ActorRefs.NoSender);
        Context.Stop(Self);
    }

    // ---- the journal ----

    /// <summary>Persists a decision, unless this node's lease on the coordinator has lapsed: then it stops without a word.</summary>
    private void Write<TEvent>(TEvent e, Action<TEvent> then) where TEvent : IJobEvent
    {
        if (_setup.HoldsLease?.Invoke() == false)
        {
            _log.Warning("this node no longer holds the coordinator's lease: stopping without writing {0}", e.GetType().Name);
            Context.Stop(Self);
            return;
        }
        Persist(e, written => { _setup.Outage?.Recovered(); then(written); });
    }

    // A failed write is either the store failing or another coordinator having written first (the
    // journal refuses a second event with the same sequence number). Either way this instance
    // stops; the node starts another with backoff, which reads the journal again and goes on from
    // what it says. Only an outage past its limit ends the job.
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
        if (_setup.Outage is { } outage && !outage.Failed(DateTime.UtcNow))
        {
            _log.Warning("{0}; the coordinator restarts and reads the journal again", reason);
            Context.Stop(Self);
            return;
        }
        // Through End, so that nodes without the coordinator hear of it too and exit.
        var limit = _setup.Outage is { } o ? $" for {o.Limit.TotalSeconds:0} s" : "";
        End(new JobFailed($"{reason} (failing{limit}); run the same command to resume once the store is back", BadInput: false));
    }

    private void Publish(object notice) => Context.System.EventStream.Publish(notice);
}
