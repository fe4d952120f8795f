using Akka.Actor;
using Akka.Event;
using ElasticTrain.Collectives;
using ElasticTrain.Collectives.Transport;
using ElasticTrain.Data;
using ElasticTrain.Jobs;
using static TorchSharp.torch;

namespace ElasticTrain.Ranks;

/// <summary>
/// A rank: a thin actor around a <see cref="Replica"/> on its own <see cref="ComputeThread"/>.
/// It fences by generation (drops and counts anything from another one), asks its
/// <see cref="DataLoader"/> for its slice, re-forms its data-plane links per generation, holds each update
/// until the coordinator commits it, and moves state to and from peers when a generation starts.
/// The actor never blocks: all tensor work and the exchange itself run on the compute thread.
/// </summary>
public sealed class Rank : ReceiveActor, IWithTimers
{
    /// <param name="Id">Unique within the job; orders the ring.</param>
    /// <param name="LocalIndex">Index among the ranks of this process; picks cuda:i.</param>
    /// <param name="Port">This rank's door to the data plane; the rank owns it and closes it when it stops.</param>
    public sealed record Setup(
        RankId Id, int LocalIndex, JobConfig Job, string IdentityHash, string Device,
        ExchangeSettings Exchange, RankPort Port, IActorRef Coordinator, IActorRef Loader, EpochSchedule Schedule);

    public static Props Props(Setup setup) => Akka.Actor.Props.Create(() => new Rank(setup));

    private readonly Setup _setup;
    private readonly ComputeThread _compute;
    private readonly BucketExchange _exchange;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private Replica? _replica;        // touched on the compute thread only
    private long _generation;
    private Dictionary<RankId, RankEndpoint> _members = [];
    private CancellationTokenSource _generationCancel = new();
    private long _droppedStale;
    private (RunStep Run, int Position, IActorRef Coordinator)? _pending; // the step waiting for its slice
    private (PrepareRank Prepare, IActorRef Coordinator, byte[][] Chunks, int Received)? _incoming; // state from a peer
    private readonly List<StateChunk> _earlyChunks = []; // a source may send before our PrepareRank arrives
    private long _stateStep = -1; // the replica's applied step, written by the compute thread

    private sealed class Reregister { public static readonly Reregister Instance = new(); }

    public ITimerScheduler Timers { get; set; } = null!;

    public Rank(Setup setup)
    {
        _setup = setup;
        _compute = new ComputeThread($"rank-{setup.LocalIndex}");
        _exchange = new BucketExchange(Collective.Create(setup.Exchange.Collective, setup.Port, setup.Exchange.Timeout), setup.Id.ToString());

        Receive<PrepareRank>(OnPrepare);
        Receive<StateChunk>(OnStateChunk);
        Receive<ServeState>(OnServeState);
        Receive<RunStep>(OnRunStep);
        Receive<DataLoader.SliceBatch>(OnBatch);
        Receive<ApplyStep>(OnApply);
        Receive<WriteCheckpoint>(OnWriteCheckpoint);
        Receive<Reregister>(_ => Register());
        Receive<GetRankStatus>(_ => Sender.Tell(new RankStatus(setup.Id, _generation, _droppedStale)));
        // The node hosting this rank learns here that the job is over.
        Receive<JobOver>(over =>
        {
            if (over.Generation >= _generation) Context.System.EventStream.Publish(over);
            else _droppedStale++;
        });
    }

    protected override void PreStart()
    {
        Register();
        Timers.StartPeriodicTimer("register", Reregister.Instance, TimeSpan.FromSeconds(2));
    }

    private void Register() => _setup.Coordinator.Tell(new RegisterRank(_setup.Id, Self, Interlocked.Read(ref _stateStep), _setup.Port.Address));

    protected override void PostStop()
    {
        _generationCancel.Cancel();
        _setup.Port.Dispose(); // fails an exchange in progress at once
        _compute.Post(() => _replica?.Dispose());
        _compute.Dispose();
        _exchange.Dispose();
    }

    private bool Stale(long generation)
    {
        if (generation == _generation) return false;
        _droppedStale++;
        _log.Debug("dropped a message of generation {0} in generation {1}", generation, _generation);
        return true;
    }

    // ---- generations and state ----

    private void OnPrepare(PrepareRank prepare)
    {
        if (prepare.Generation <= _generation) { _droppedStale++; return; }
        // A new generation aborts whatever exchange the old one left waiting on a peer.
        _generationCancel.Cancel();
        _generationCancel = new CancellationTokenSource();
        _generation = prepare.Generation;
        _members = prepare.Members.ToDictionary(m => m.Rank);
        _setup.Port.BeginGeneration(prepare.Generation); // the old ring's links close here
        _pending = null;
        _incoming = null;
        var coordinator = Sender;
        var members = _members;
        if (prepare.Origin is CopyFromPeer)
        {
            _incoming = (prepare, coordinator, [], 0); // continues as the chunks arrive
            var early = _earlyChunks.Where(c => c.Generation == prepare.Generation).ToList();
            _earlyChunks.Clear();
            early.ForEach(OnStateChunk);
            return;
        }
        OnCompute(prepare.Generation, 0, coordinator, () =>
        {
            _replica?.DiscardPending();
            switch (prepare.Origin)
            {
                case KeepState when _replica?.AppliedStep == prepare.StateStep:
                    break;
                case KeepState:
                    throw new InvalidOperationException($"asked to keep state at step {prepare.StateStep}, holds {_replica?.AppliedStep.ToString() ?? "none"}");
                case InitFromSeed:
                    _replica?.Dispose();
                    _replica = NewReplica();
                    break;
                case LoadCheckpoint load:
                    _replica ??= NewReplica();
                    _replica.Restore(load.Checkpoint);
                    break;
            }
            SendState(prepare, members);
            Interlocked.Exchange(ref _stateStep, _replica!.AppliedStep);
            return new RankReady(prepare.Generation, _setup.Id, _replica.AppliedStep);
        });
    }

    private void OnStateChunk(StateChunk chunk)
    {
        if (chunk.Generation > _generation) { _earlyChunks.Add(chunk); return; }
        if (Stale(chunk.Generation) || _incoming is not { } incoming) return;
        var chunks = incoming.Chunks.Length == chunk.Count ? incoming.Chunks : new byte[chunk.Count][];
        chunks[chunk.Index] = chunk.Bytes;
        _incoming = incoming with { Chunks = chunks, Received = incoming.Received + 1 };
        if (_incoming.Value.Received < chunk.Count) return;

        var prepare = incoming.Prepare;
        _incoming = null;
        var packed = chunks.SelectMany(c => c).ToArray();
        var members = _members;
        OnCompute(prepare.Generation, 0, incoming.Coordinator, () =>
        {
            _replica ??= NewReplica();
            _replica.ImportState(StateTransfer.Unpack(packed), chunk.Step);
            SendState(prepare, members);
            Interlocked.Exchange(ref _stateStep, _replica.AppliedStep);
            return new RankReady(prepare.Generation, _setup.Id, _replica.AppliedStep);
        });
    }

    /// <summary>On the compute thread: sends this replica's state to the joiners it serves.</summary>
    private void SendState(PrepareRank prepare, IReadOnlyDictionary<RankId, RankEndpoint> members) =>
        SendState(prepare.Generation, prepare.SendStateTo.Select(t => members[t].Endpoint).ToList());

    private void SendState(long generation, IReadOnlyList<IActorRef> targets)
    {
        if (targets.Count == 0) return;
        var packed = StateTransfer.Pack(_replica!.ExportState());
        foreach (var target in targets)
            foreach (var chunk in StateTransfer.Chunks(generation, _replica.AppliedStep, packed))
                target.Tell(chunk, ActorRefs.NoSender);
    }

    /// <summary>Outside the new generation, but holding the state it needs: pass it on (a drained node's last act).</summary>
    private void OnServeState(ServeState serve)
    {
        if (serve.Generation <= _generation) { _droppedStale++; return; }
        _compute.Post(() =>
        {
            try
            {
                if (_replica?.AppliedStep == serve.Step)
                    SendState(serve.Generation, serve.Targets.Select(t => t.Endpoint).ToList());
                else
                    _log.Warning("asked to serve state of step {0}, holds {1}", serve.Step, _replica?.AppliedStep);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                // The joiners' generation then fails on its own timeout; the compute thread must live on.
                _log.Warning("could not serve state of step {0}: {1}", serve.Step, e.Message);
            }
        });
    }

    private Replica NewReplica() => new(_setup.Job, _setup.IdentityHash, DeviceFor(_setup.Device, _setup.LocalIndex), _setup.Exchange.BucketBytes);

    // ---- steps ----

    private void OnRunStep(RunStep run)
    {
        if (Stale(run.Generation)) return;
        var position = run.Plan.PositionOf(_setup.Id);
        if (position < 0) return; // idle in this step
        var slice = run.Plan.Slices[position];
        _setup.Loader.Tell(new DataLoader.Fetch(run.Generation, run.Plan.Step, slice.Offset, slice.Count));
        var next = run.Next?.PositionOf(_setup.Id) is int n and >= 0 ? run.Next.Slices[n] : null;
        if (next is not null)
            _setup.Loader.Tell(new DataLoader.Prefetch(run.Generation, run.Next!.Step, next.Offset, next.Count));
        _pending = (run, position, Sender);
    }

    private void OnBatch(DataLoader.SliceBatch batch)
    {
        if (Stale(batch.Generation) || _pending is not { } pending || pending.Run.Plan.Step != batch.Step) return;
        _pending = null;
        var group = new ExchangeGroup(batch.Generation, batch.Step, pending.Position,
            pending.Run.Plan.Slices.Select(s => RingMember(s.Rank)).ToList());
        var cancellation = _generationCancel.Token;
        OnCompute(batch.Generation, batch.Step, pending.Coordinator, () =>
        {
            var outcome = _replica!.Exchange(batch.Step, batch.Tokens, batch.SampleIds.Length, _exchange, group, cancellation);
            return new StepExchanged(batch.Generation, batch.Step, _setup.Id, outcome.LossSum,
                batch.SampleIds, outcome.ComputeMs, outcome.ExchangeMs, outcome.ExposedMs);
        });
    }

    private void OnApply(ApplyStep apply)
    {
        if (Stale(apply.Generation)) return;
        OnCompute(apply.Generation, apply.Step, Sender, () =>
        {
            _replica!.Apply(apply.Step);
            Interlocked.Exchange(ref _stateStep, apply.Step);
            return null;
        });
    }

    private ExchangeMember RingMember(RankId rank) =>
        _members.TryGetValue(rank, out var endpoint)
            ? new ExchangeMember(rank.ToString(), endpoint.DataPlane)
            : throw new InvalidOperationException($"rank {rank} is not a member of generation {_generation}");

    private void OnWriteCheckpoint(WriteCheckpoint write)
    {
        if (Stale(write.Generation)) return;
        var coordinator = Sender;
        var self = Self;
        var epoch = _setup.Schedule.EpochOf(write.Step); // the epoch the next step reads from
        _compute.Post(() =>
        {
            try
            {
                var sha = _replica!.Save(write.Path, write.Step, write.World, epoch);
                coordinator.Tell(new CheckpointWritten(write.Generation, write.Step, write.Path, sha), self);
            }
            catch (Exception e) when (e is not OutOfMemoryException) // a disk, a path or libtorch: the job decides what next
            {
                coordinator.Tell(new CheckpointFailed(write.Generation, write.Step, e.Message), self);
            }
        });
    }

    /// <summary>
    /// Runs <paramref name="work"/> on the compute thread and sends its reply (if any) to the
    /// coordinator; a failure becomes <see cref="StepFailed"/>, unless the generation has moved on.
    /// </summary>
    private void OnCompute(long generation, long step, IActorRef coordinator, Func<object?> work)
    {
        var self = Self;
        var cancellation = _generationCancel.Token;
        _compute.Post(() =>
        {
            try
            {
                if (work() is { } reply) coordinator.Tell(reply, self);
            }
            catch (OperationCanceledException)
            {
                // The generation ended under us; its coordinator no longer waits for this.
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                if (!cancellation.IsCancellationRequested)
                    coordinator.Tell(new StepFailed(generation, step, _setup.Id, e.Message), self);
            }
        });
    }

    private static Device DeviceFor(string device, int localIndex) =>
        device == "cuda" ? new Device(TorchSharp.DeviceType.CUDA, localIndex) : CPU;
}
