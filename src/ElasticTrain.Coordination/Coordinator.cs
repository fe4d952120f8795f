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
/// how a generation gets its state is the pure <see cref="GenerationPlanner"/>.
///
/// Ranks apply a step only after its commit, so when a rank dies mid-step the survivors all hold
/// the last committed state: the next generation keeps it, joiners copy it from a live peer, and
/// only the interrupted step runs again. Ranks joining a running job are admitted at the next step
/// boundary.
/// </summary>
public sealed class Coordinator : ReceivePersistentActor, IWithTimers
{
    /// <param name="Requested">This run's job config; its identity must match the journal's.</param>
    /// <param name="ExpectedRanks">How many ranks to wait for before the first generation.</param>
    /// <param name="MaxAttempts">Consecutive failed generations without a committed step before giving up.</param>
    /// <param name="JoinSettle">
    /// Ranks that register mid-run join once no other rank has registered for this long (default
    /// 500 ms), so a node's ranks, which register within moments of each other, enter in one
    /// generation instead of one each. The job keeps stepping meanwhile.
    /// </param>
    public sealed record Setup(
        JobConfig Requested, string IdentityHash, string DataFingerprint, int ExpectedRanks,
        CheckpointStore Checkpoints, TimeSpan StepTimeout, int MaxAttempts = 5, TimeSpan? JoinSettle = null)
    {
        public TimeSpan Settle => JoinSettle ?? TimeSpan.FromMilliseconds(500);
    }

    public static Props Props(Setup setup) => Akka.Actor.Props.Create(() => new Coordinator(setup));

    private sealed record StepTimedOut(long Generation, long Step);

    private sealed class Begin { public static readonly Begin Instance = new(); }

    private readonly Setup _setup;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private JobState _state = JobState.Empty;
    private readonly Dictionary<string, IActorRef> _ranks = new(StringComparer.Ordinal);     // every live registered rank
    private readonly Dictionary<string, string> _dataPlanes = new(StringComparer.Ordinal);   // rank -> its node's data-plane address
    private readonly Dictionary<string, long> _stateSteps = new(StringComparer.Ordinal);     // what each replica holds
    private string[] _members = [];                                                         // this generation, ring order
    private GenerationPlanner.Plan? _generationPlan;
    private readonly HashSet<string> _ready = new(StringComparer.Ordinal);
    private readonly Dictionary<string, StepExchanged> _exchanged = new(StringComparer.Ordinal);
    private StepPlan? _plan;                                                                // the step in flight
    private readonly Stopwatch _stepClock = new();
    private int _failedAttempts;
    private readonly HashSet<string> _draining = new(StringComparer.Ordinal); // never admitted again
    private int _targetRanks; // 0: use every rank
    private readonly Queue<(long Step, long TimeMs)> _recentCommits = new();
    private readonly Dictionary<string, double> _speeds = new(StringComparer.Ordinal); // samples/s of compute, smoothed
    private bool _began;
    private bool _awaitingGeneration;
    private DateTime _lastNewRank = DateTime.MinValue; // when a rank not known before last registered
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

    private void Commands()
    {
        Command<Begin>(_ => OnBegin());
        Command<GetJob>(_ =>
        {
            if (_began && _state.Config is not null) Sender.Tell(new JobDescription(Job, _setup.IdentityHash, _setup.DataFingerprint));
        });
        Command<RegisterRank>(OnRegister);
        Command<GetStatus>(_ => Sender.Tell(Status()));
        Command<DrainNode>(drain =>
        {
            var ranks = _ranks.Keys.Where(r => NodeOf(r) == drain.Node).ToArray();
            if (ranks.Length == 0) { Sender.Tell(new OperatorReply(false, $"no ranks of this job run on {drain.Node}")); return; }
            if (ranks.Length == _ranks.Keys.Count(r => !_draining.Contains(r)))
            {
                Sender.Tell(new OperatorReply(false, $"{drain.Node} runs the job's last ranks; it cannot be drained"));
                return;
            }
            _draining.UnionWith(ranks);
            Sender.Tell(new OperatorReply(true, $"draining {ranks.Length} rank(s) of {drain.Node} at the next step boundary"));
        });
        Command<ScaleRanks>(scale =>
        {
            _targetRanks = scale.Ranks;
            var available = _ranks.Keys.Count(r => !_draining.Contains(r));
            Sender.Tell(new OperatorReply(true, scale.Ranks == 0 || scale.Ranks >= available
                ? $"using all {available} available rank(s) from the next step boundary"
                : $"using {scale.Ranks} of {available} rank(s) from the next step boundary"));
        });
        Command<Terminated>(t =>
        {
            var gone = _ranks.FirstOrDefault(r => r.Value.Equals(t.ActorRef)).Key;
            if (gone is null) return;
            _ranks.Remove(gone);
            _dataPlanes.Remove(gone);
            _stateSteps.Remove(gone);
            _speeds.Remove(gone);
            if (_members.Contains(gone)) RestartGeneration($"rank {gone} stopped");
        });
        Command<StepFailed>(failed =>
        {
            if (failed.Generation == _state.Generation) RestartGeneration($"rank {failed.Rank} failed at step {failed.Step}: {failed.Reason}");
        });
        Command<StepTimedOut>(timeout =>
        {
            if (timeout.Generation == _state.Generation && _plan?.Step == timeout.Step)
                RestartGeneration($"step {timeout.Step} did not finish within {_setup.StepTimeout.TotalSeconds:0} s");
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
            Persist(new JobStarted(Job, _setup.IdentityHash, _setup.DataFingerprint), e => { _state = _state.Updated(e); TryStartGeneration(); });
        else
            TryStartGeneration();
    }

    private void OnRegister(RegisterRank register)
    {
        if (_draining.Contains(register.Rank)) { register.Endpoint.Tell(new JobOver(Job.Id, true, "drained")); return; }
        if (_ranks.TryGetValue(register.Rank, out var known) && known.Equals(register.Endpoint)) return; // periodic re-registration
        if (!_ranks.ContainsKey(register.Rank)) _lastNewRank = DateTime.UtcNow;
        _ranks[register.Rank] = register.Endpoint;
        _dataPlanes[register.Rank] = register.DataPlane;
        if (register.StateStep >= 0) _stateSteps[register.Rank] = register.StateStep;
        Context.Watch(register.Endpoint);
        _log.Info("rank {0} registered ({1} known)", register.Rank, _ranks.Count);
        // Before the first generation it counts toward the start; later it joins at the next step boundary.
        TryStartGeneration();
    }

    // ---- generations ----

    /// <summary>Who should be in the generation: live ranks not being drained, capped by the scale target.</summary>
    private string[] DesiredMembers()
    {
        var live = _ranks.Keys.Where(r => !_draining.Contains(r)).Order(StringComparer.Ordinal);
        return (_targetRanks > 0 ? live.Take(_targetRanks) : live).ToArray();
    }

    /// <summary>"host:port" of the node a rank runs on; rank names are "host:port/rI".</summary>
    private static string NodeOf(string rank) => rank[..rank.LastIndexOf('/')];

    private JobStatusReport Status()
    {
        var rate = _recentCommits.Count >= 2
            ? (_recentCommits.Last().Step - _recentCommits.First().Step) * Job.GlobalBatch * 1000.0 / Math.Max(1, _recentCommits.Last().TimeMs - _recentCommits.First().TimeMs)
            : 0;
        return new JobStatusReport(Job.Id, _state.CommittedStep, Job.Steps, _state.Generation, _members,
            _ranks.Keys.Where(r => !_members.Contains(r) && !_draining.Contains(r)).Order(StringComparer.Ordinal).ToArray(),
            _draining.Order(StringComparer.Ordinal).ToArray(), _targetRanks, rate);
    }

    private void TryStartGeneration()
    {
        var members = DesiredMembers();
        if (!_began || !_awaitingGeneration || _state.Config is null || members.Length == 0 || _ranks.Count < _required) return;
        _awaitingGeneration = false;
        Persist(new GenerationStarted(_state.Generation + 1, members), e =>
        {
            _state = _state.Updated(e);
            _members = members;
            _ready.Clear();
            _exchanged.Clear();
            _plan = null;
            Timers.Cancel("step-timeout");
            var outside = _ranks.Keys.Where(r => !members.Contains(r)).ToArray();
            var plan = GenerationPlanner.Decide(members, _stateSteps, _state.CommittedStep, _state.LastCheckpoint, outside);
            _generationPlan = plan;
            var endpoints = members.Select(m => new RankEndpoint(m, _ranks[m], _dataPlanes[m])).ToArray();
            foreach (var member in members)
                _ranks[member].Tell(new PrepareRank(_state.Generation, endpoints, plan.Origins[member], plan.StateStep,
                    plan.Sends.TryGetValue(member, out var targets) ? targets : []));
            foreach (var helper in outside.Where(plan.Sends.ContainsKey))
                _ranks[helper].Tell(new ServeState(_state.Generation, plan.StateStep,
                    plan.Sends[helper].Select(t => endpoints.First(e => e.Rank == t)).ToArray()));
            _log.Info("generation {0}: {1} ranks, resuming at step {2}", _state.Generation, members.Length, plan.ResumeStep);
            // Drained ranks are out of the generation now: their nodes may leave.
            foreach (var drained in _draining.Where(_ranks.ContainsKey))
                _ranks[drained].Tell(new JobOver(Job.Id, true, "drained"));
        });
    }

    private void RestartGeneration(string reason)
    {
        _log.Warning("generation {0} aborted: {1}", _state.Generation, reason);
        _plan = null;
        _members = [];
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
        if (ready.Generation != _state.Generation || _plan is not null || _generationPlan is null) return;
        _stateSteps[ready.Rank] = ready.StateStep;
        if (ready.StateStep != _generationPlan.StateStep)
        {
            RestartGeneration($"rank {ready.Rank} prepared state at step {ready.StateStep}, not {_generationPlan.StateStep}");
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
        _exchanged.Clear();
        _plan = StepPlanner.Plan(step, _members, Job.GlobalBatch, _speeds);
        var next = step < Job.Steps ? StepPlanner.Plan(step + 1, _members, Job.GlobalBatch, _speeds) : null;
        foreach (var slice in _plan.Slices)
            _ranks[slice.Rank].Tell(new RunStep(_state.Generation, _plan, next));
        _stepClock.Restart();
        Timers.StartSingleTimer("step-timeout", new StepTimedOut(_state.Generation, step), _setup.StepTimeout);
    }

    private void OnStepExchanged(StepExchanged done)
    {
        if (done.Generation != _state.Generation || _plan is null || done.Step != _plan.Step) return;
        _exchanged[done.Rank] = done;
        if (_exchanged.Count < _plan.Slices.Count) return;

        Timers.Cancel("step-timeout");
        _failedAttempts = 0;
        foreach (var report in _exchanged.Values) MeasureSpeed(report);
        var step = _plan.Step;
        var loss = _exchanged.Values.Sum(d => d.LossSum) / Job.GlobalBatch;
        var stepMs = _stepClock.Elapsed.TotalMilliseconds;
        var world = _plan.Slices.Count;
        var maxExchange = _exchanged.Values.Max(d => d.ExchangeMs);
        // All members finish the all-reduce together, so the rank that finished backward last
        // waited least: its wait is the exchange's exposed tail; the longest wait adds load imbalance.
        var exposed = _exchanged.Values.Min(d => d.ExposedMs);
        var maxWait = _exchanged.Values.Max(d => d.ExposedMs);
        var maxCompute = _exchanged.Values.Max(d => d.ComputeMs);
        if (step > _state.CommittedStep)
        {
            Persist(new StepCommitted(step, loss, _state.Generation, world), e =>
            {
                _state = _state.Updated(e);
                ApplyCommitted(step);
                _recentCommits.Enqueue((step, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()));
                if (_recentCommits.Count > 20) _recentCommits.Dequeue();
                Publish(new StepCommittedNotice(step, loss, world, _state.Generation,
                    DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), stepMs, Job.GlobalBatch, maxCompute, maxExchange, exposed, maxWait));
                Publish(new StepSamples(step, _state.Generation, _plan.Slices.Select(s => (s.Rank, _exchanged[s.Rank].SampleIds)).ToArray()));
                AfterStep(step);
            });
        }
        else
        {
            ApplyCommitted(step);
            Publish(new StepReplayed(step, loss, _state.JournaledLoss(step), _state.Generation));
            AfterStep(step);
        }
    }

    /// <summary>
    /// Smooths each rank's compute speed (forward and backward only: time spent waiting in the
    /// exchange says nothing about the rank) over about ten steps, so one slow step does not move
    /// samples around.
    /// </summary>
    private void MeasureSpeed(StepExchanged report)
    {
        if (report.ComputeMs <= 0 || report.Samples == 0) return;
        var speed = report.Samples * 1000.0 / report.ComputeMs;
        _speeds[report.Rank] = _speeds.TryGetValue(report.Rank, out var old) ? 0.9 * old + 0.1 * speed : speed;
    }

    /// <summary>The commit is durable: every member applies the step (in mailbox order, before anything later).</summary>
    private void ApplyCommitted(long step)
    {
        foreach (var member in _members)
        {
            _ranks[member].Tell(new ApplyStep(_state.Generation, step));
            _stateSteps[member] = step;
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

    /// <summary>The only change is newcomers, and ranks are still registering: wait a step or two for the rest.</summary>
    private bool JoinersStillArriving(string[] desired) =>
        _members.All(desired.Contains) && DateTime.UtcNow - _lastNewRank < _setup.Settle;

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
        if (step < Job.Steps)
        {
            // Joins, drains and scale changes take effect here, at the boundary, as a new generation.
            var desired = DesiredMembers();
            if (!desired.SequenceEqual(_members) && !JoinersStillArriving(desired))
            {
                _plan = null;
                _awaitingGeneration = true;
                _required = 1;
                TryStartGeneration();
                return;
            }
            Dispatch(step + 1);
            return;
        }
        Persist(new JobCompleted(step), e =>
        {
            _state = _state.Updated(e);
            _plan = null;
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
        var over = outcome is JobFailed failed ? new JobOver(Job.Id, false, failed.Reason) : new JobOver(Job.Id, true, null);
        foreach (var rank in _ranks.Values) rank.Tell(over);
        Context.Stop(Self);
    }

    protected override void OnPersistFailure(Exception cause, object @event, long sequenceNr)
    {
        // Through End, so that nodes without the coordinator hear of it too and exit.
        End(new JobFailed($"cannot write the journal: {cause.GetBaseException().Message}", BadInput: false));
        base.OnPersistFailure(cause, @event, sequenceNr);
    }

    protected override void OnRecoveryFailure(Exception reason, object? message = null)
    {
        End(new JobFailed($"cannot read the journal: {reason.GetBaseException().Message}", BadInput: false));
        base.OnRecoveryFailure(reason, message);
    }

    private void Publish(object notice) => Context.System.EventStream.Publish(notice);
}
