using System.Diagnostics;
using Akka.Actor;
using Akka.Event;
using Akka.Persistence;
using ElasticTrain.Jobs;
using ElasticTrain.Ranks;
using ElasticTrain.Ranks.Pipeline;

namespace ElasticTrain.Coordination;

/// <summary>
/// The job's coordinator: an event-sourced actor (run as a cluster singleton) that admits ranks
/// into generations, plans and dispatches steps, commits each step once every rank has exchanged
/// its gradients, tells the ranks to apply it (Coordinator.Steps.cs), and has checkpoints written. Its durable decisions
/// go to the journal (<see cref="IJobEvent"/>); its state is the pure fold <see cref="JobState"/>;
/// who takes part is the pure <see cref="Roster"/>; the mesh they form is the pure
/// <see cref="MeshPlanner"/>'s, and how its members get their state the pure
/// <see cref="MeshStatePlanner"/>'s (Coordinator.Generations.cs).
///
/// Ranks apply a step only after its commit, so when a rank dies mid-step the survivors all hold
/// the last committed state: the next generation keeps it, joiners copy it from a live peer, and
/// only the interrupted step runs again. When a step fails, the members that no longer answer are
/// left out of the next generation at once (<see cref="LivenessCheck"/>), without waiting for the
/// failure detector (Coordinator.Failures.cs). Ranks joining a running job are admitted at the
/// next step boundary.
/// </summary>
public sealed partial class Coordinator : FencedPersistentActor, IWithTimers
{
    public static Props Props(CoordinatorSetup setup) => Akka.Actor.Props.Create(() => new Coordinator(setup));

    private sealed record StepTimedOut(long Generation, long Step);
    private sealed class Begin { public static readonly Begin Instance = new(); }

    private readonly CoordinatorSetup _setup;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly Roster _roster = new();
    private readonly Throughput _throughput = new();
    private readonly Stopwatch _stepClock = new();
    private JobState _state = JobState.Empty;
    private RankId[] _members = [];               // this generation, ring order
    private MeshLayout? _mesh;                    // where each member works
    private MeshStatePlanner.Plan? _statePlan;    // where each member takes its state from
    private readonly HashSet<RankId> _ready = [];
    private StepTally? _step;                     // the step in flight
    private StepPlan? _lastPlan;                  // the last step dispatched, for status
    private LivenessCheck? _check;                // a failed step's members, asked whether they live
    private int _failedAttempts;
    private bool _began;
    private bool _awaitingGeneration;
    private int _required;                        // ranks to wait for before the next generation starts
    private readonly JournaledSamples _samples = new();
    private SortedSet<long> _overflows = []; // every fp16 step whose gradient overflowed: the loss scale follows from them
    private readonly LayerCosts _costs;

    public Coordinator(CoordinatorSetup setup) : base(setup.HoldsLease, setup.Outage)
    {
        _setup = setup;
        _required = setup.ExpectedRanks;
        _costs = new LayerCosts(ModelProfile.Estimate(Replica.SpecOf(setup.Requested)));
        PersistenceId = "job-" + setup.Requested.Id;
        Recover<StepSampled>(_samples.Add);
        Recover<GradientOverflowed>(o => _overflows.Add(o.Step));
        Recover<IJobEvent>(e => _state = _state.Updated(e));
        Recover<SnapshotOffer>(offer =>
        {
            if (JobSnapshot.Of(offer.Snapshot) is { } snapshot) (_state, _overflows) = (snapshot.State, [.. snapshot.Overflows]);
        });
        Recover<RecoveryCompleted>(_ =>
        {
            _samples.ForgetThrough(_state.LastCheckpoint?.Step ?? 0);
            JournalAnswered();
            Self.Tell(Begin.Instance);
        });
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
            if (_began && _state.Config is not null) Sender.Tell(new JobDescription(Job, _setup.IdentityHash, _setup.DataFingerprint, _setup.Mesh, _setup.Training, _setup.SecretCheck));
        });
        Command<RegisterRank>(OnRegister);
        Command<GetStatus>(_ => Sender.Tell(new JobStatusReport(Job.Id, _state.CommittedStep, Job.Steps, _state.Generation, _members,
            _roster.Idle(_members), _roster.Draining, _roster.TargetRanks, _throughput.SamplesPerSecond(Job.GlobalBatch), _mesh?.ToString() ?? "", Loads(),
            ShardPlaces())));
        Command<DrainNode>(drain => Sender.Tell(_roster.Drain(drain.Node)));
        Command<ScaleRanks>(scale => Sender.Tell(_roster.Scale(scale.Ranks)));
        Command<Terminated>(t =>
        {
            if (_roster.Remove(t.ActorRef) is { } gone && Needs(gone)) Abort($"rank {gone} stopped", verify: false);
        });
        Command<StepFailed>(failed =>
        {
            if (failed.Generation != _state.Generation) return;
            // The roster counted each committed step as applied; a rank that failed says where it really is,
            // so the next plan does not ask it for a step it does not hold (again and again).
            if (failed.StateStep is { } held && _roster.Contains(failed.Rank)) _roster.HoldsState(failed.Rank, held);
            Abort($"rank {failed.Rank} failed at step {failed.Step}: {failed.Reason}", verify: true);
        });
        Command<StepTimedOut>(timeout =>
        {
            if (timeout.Generation != _state.Generation) return;
            if (_step?.Step == timeout.Step)
                Abort($"step {timeout.Step} did not finish within {_setup.StepTimeout.TotalSeconds:0} s", verify: true);
            else if (timeout.Step == 0 && _step is null && (_statePlan is not null || _shardPrep is not null) && _members.Length > 0)
                Abort($"the generation's ranks did not prepare their state within {_setup.StepTimeout.TotalSeconds:0} s", verify: true);
        });
        Command<RankStatus>(OnRankStatus);
        Command<ProbeAwaited>(OnProbeAwaited);
        Command<LivenessDeadline>(deadline => { if (_check?.Generation == deadline.Generation) EndLivenessCheck(); });
        Command<SuspicionExpired>(OnSuspicionExpired);
        Command<RankReady>(OnRankReady);
        Command<CopyHeld>(OnCopyHeld);
        Command<StepExchanged>(OnStepExchanged);
        Command<CheckpointWritten>(OnCheckpointWritten);
        CommandsOfEvaluation();
        CommandsOfShards();
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
        // Started again by its supervisor on a node that has lost the lease meanwhile: it has no say.
        if (!MayWrite()) { Context.Stop(Self); return; }
        _began = true;
        // Only a job that has never run waits for its start ranks: after a failover or a resume, whoever is left goes on.
        if (_state.Generation == 0) _required = Math.Max(_required, _setup.StartRanks);
        if (_state.IdentityHash is { } journaled && journaled != _setup.IdentityHash)
        {
            var differences = string.Join(", ", Job.IdentityDifferences(_state.Config!));
            Fail($"job '{Job.Id}' exists with another configuration ({(differences.Length > 0 ? differences : "the data, or the optimizer, schedule or clipping changed")}); use a new --job id", badInput: true);
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

    protected override void JournalGone(string reason) =>
        // Through End, so that nodes without the coordinator hear of it too and exit.
        End(new JobFailed($"{reason}; run the same command to resume once the store is back", BadInput: false));

    private void Publish(object notice) => Context.System.EventStream.Publish(notice);

    /// <summary>The last planned step's slices with each rank's measured speed, for `status` and the console.</summary>
    private RankLoad[] Loads()
    {
        if (_lastPlan is not { } plan) return [];
        var speeds = _roster.Speeds;
        return [.. plan.Slices.Select(s => new RankLoad(s.Rank, s.Count, speeds.GetValueOrDefault(s.Rank), s.Stage))];
    }
}
