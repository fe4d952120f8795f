using Akka.Actor;
using Akka.Event;
using ElasticTrain.Collectives;
using ElasticTrain.Collectives.Transport;
using ElasticTrain.Data;
using ElasticTrain.Jobs;
using ElasticTrain.Ranks.Optimization;
using ElasticTrain.Ranks.Pipeline;
using ElasticTrain.Training;
using static TorchSharp.torch;

namespace ElasticTrain.Ranks;

/// <summary>
/// A rank: a thin actor around an <see cref="IModelPart"/> (the whole model, or one pipeline
/// stage) on its own <see cref="ComputeThread"/>. It fences by generation (drops and counts
/// anything from another one), asks its <see cref="DataLoader"/> for its slice, re-forms its
/// data-plane links per generation, holds each update until the coordinator commits it, and moves
/// state to and from peers when a generation starts (Rank.State.cs). The actor never blocks: all
/// tensor work and the exchanges themselves run on the compute thread.
/// </summary>
public sealed partial class Rank : ReceiveActor, IWithTimers
{
    /// <param name="Id">Unique within the job; orders the ring.</param>
    /// <param name="LocalIndex">Index among the ranks of this process; picks cuda:i.</param>
    /// <param name="Port">This rank's door to the data plane; the rank owns it and closes it when it stops.</param>
    /// <param name="Memory">What the rank may hold, in bytes (<c>elastictrain.parallel.rank-memory</c>), told to the mesh planner.</param>
    /// <param name="Shards">Parameter-server mode: the job's shard region on this node and its plan; null: all-reduce.</param>
    /// <param name="Slowdown">How many times longer the rank's forward and backward last (<c>elastictrain.debug.slowdown</c>); 1: as they take.</param>
    /// <param name="TorchThreads">libtorch's intra-op threads of the rank's compute and exchange threads (<c>elastictrain.intra-op-threads</c>, else the node's cores split among its ranks).</param>
    public sealed record Setup(
        RankId Id, int LocalIndex, JobConfig Job, string IdentityHash, string Device,
        ExchangeSettings Exchange, RankPort Port, IActorRef Coordinator, IActorRef Loader, EpochSchedule Schedule, long Memory = long.MaxValue,
        TrainingRecipe? Recipe = null, ParameterServer.ShardAccess? Shards = null, double Slowdown = 1, int TorchThreads = 1)
    {
        /// <summary>The job's optimizer, schedule, clipping and micro-batch size; null: <see cref="TrainingRecipe.Default"/>.</summary>
        public TrainingRecipe Training => Recipe ?? TrainingRecipe.Default;
    }

    public static Props Props(Setup setup) => Akka.Actor.Props.Create(() => new Rank(setup));

    /// <summary>What the rank's state holds, as it tells the coordinator: written by the compute thread, read by the actor.</summary>
    private sealed record Held(long Step, LayerRange Layers);

    private readonly Setup _setup;
    private readonly ComputeThread _compute;
    private readonly BucketExchange _exchange;
    private readonly PointToPoint _stages;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private IModelPart? _part;        // touched on the compute thread only
    private volatile Held? _held;
    private long _generation;
    private MeshLayout? _mesh;
    private Dictionary<RankId, RankEndpoint> _members = [];
    private CancellationTokenSource _generationCancel = new();
    private long _droppedStale;
    // The steps waiting for their slices: one, but for a parameter server's workers that run ahead (ssp, asp).
    private readonly Dictionary<long, (RunStep Run, int Position, IActorRef Coordinator)> _pending = [];

    private sealed class Reregister { public static readonly Reregister Instance = new(); }

    public ITimerScheduler Timers { get; set; } = null!;

    public Rank(Setup setup)
    {
        _setup = setup;
        _compute = new ComputeThread($"rank-{setup.LocalIndex}", setup.TorchThreads);
        _exchange = new BucketExchange(Collective.Create(setup.Exchange.Collective, setup.Port, setup.Exchange.Timeout), setup.Id.ToString(), setup.TorchThreads,
            setup.Training.Exchange, setup.Training.Moments, setup.Training.Optimizer.Beta2);
        _stages = new PointToPoint(setup.Port, setup.Exchange.Timeout);

        Receive<PrepareRank>(OnPrepare);
        Receive<StateChunk>(OnStateChunk);
        Receive<ServeState>(OnServeState);
        Receive<HandOffResiduals>(OnHandOffResiduals);
        Receive<RunStep>(OnRunStep);
        Receive<DataLoader.SliceBatch>(OnBatch);
        Receive<ApplyStep>(OnApply);
        Receive<PeerCopyChunk>(OnPeerCopyChunk);
        Receive<CopiesComplete>(OnCopiesComplete);
        Receive<WriteCheckpoint>(OnWriteCheckpoint);
        Receive<EvaluateHeldOut>(OnEvaluate);
        Receive<DataLoader.HeldOutBatch>(OnHeldOutBatch);
        Receive<Reregister>(_ => Register());
        Receive<GetRankStatus>(_ => Sender.Tell(new RankStatus(setup.Id, _generation, _droppedStale,
            _exchange.Residuals().Sum(r => r.Residual.Sum(v => (double)v)))));
        Receive<FinishQueuedWork>(_ =>
        {
            var asker = Sender;
            _compute.Post(() => asker.Tell(QueuedWorkDone.Instance));
        });
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

    private void Register()
    {
        var held = _held;
        _setup.Coordinator.Tell(new RegisterRank(_setup.Id, Self, held?.Step ?? -1, _setup.Port.Address, held?.Layers, _setup.Memory));
    }

    protected override void PostStop()
    {
        _generationCancel.Cancel();
        _setup.Port.Dispose(); // fails an exchange in progress at once
        _compute.Post(() => _part?.Dispose());
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
        _pending[run.Plan.Step] = (run, position, Sender);
    }

    private void OnBatch(DataLoader.SliceBatch batch)
    {
        if (Stale(batch.Generation) || !_pending.Remove(batch.Step, out var pending) || _mesh is not { } mesh) return;
        var cancellation = _generationCancel.Token;
        Func<StepExchanged?> step; // null: nothing to report yet (a step computed ahead, pushed later)
        if (_setup.Shards is not null)
            step = ParameterServerStep(batch, pending.Run.LossScale, cancellation);
        else if (mesh.Stages == 1)
        {
            var group = new ExchangeGroup(batch.Generation, batch.Step, pending.Position,
                pending.Run.Plan.Slices.Select(s => RingMember(s.Rank)).ToList());
            step = () =>
            {
                var outcome = ((Replica)_part!).Exchange(batch.Step, batch.Tokens, batch.SampleIds, _exchange, group, cancellation,
                    pending.Run.LossScale);
                return new StepExchanged(batch.Generation, batch.Step, _setup.Id, outcome.LossSum,
                    batch.SampleIds, outcome.ComputeMs, outcome.ExchangeMs, outcome.ExposedMs, GradientSquares: outcome.GradientSquares,
                    BytesSent: _exchange.TakeBytesSent());
            };
        }
        else
        {
            var place = mesh.PlaceOf(_setup.Id, batch.Generation, RingMember);
            step = () =>
            {
                var outcome = ((PipelineStage)_part!).Exchange(batch.Step, batch.Tokens, batch.SampleIds, place, _stages, _exchange,
                    _setup.Exchange.Timeout, cancellation, pending.Run.LossScale);
                return new StepExchanged(batch.Generation, batch.Step, _setup.Id, outcome.LossSum ?? 0,
                    batch.SampleIds, outcome.ComputeMs, outcome.ExchangeMs, outcome.ExposedMs, outcome.SpanMs, outcome.WaitMs, outcome.PeakHeldBytes,
                    outcome.GradientSquares, _exchange.TakeBytesSent());
            };
        }
        OnCompute(batch.Generation, batch.Step, pending.Coordinator, step);
    }

    private void OnApply(ApplyStep apply)
    {
        if (Stale(apply.Generation)) return;
        if (_setup.Shards is not null)
        {
            PullApplied(apply);
            return;
        }
        var copyHolder = apply.PeerCopy ? _members[_mesh!.CopyHolderOf(_setup.Id)].Endpoint : null;
        var self = Self;
        OnCompute(apply.Generation, apply.Step, Sender, () =>
        {
            _part!.Apply(apply.Step, apply.GradientSquares);
            // A step skipped for an overflow (fp16) keeps the residuals it started from: an inf
            // kept in them would overflow every step after it.
            if (UpdateRule.Applies(apply.GradientSquares)) _exchange.CommitResiduals();
            _held = new Held(apply.Step, _part.Layers);
            if (copyHolder is not null) SendPeerCopy(apply.Generation, apply.Step, copyHolder, self);
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
                var metadata = StateCheckpoint.Metadata(_setup.Job, _setup.IdentityHash, write.Step, write.World, epoch);
                var sha = StateCheckpoint.Save(_part!, write.Path, metadata);
                coordinator.Tell(new CheckpointWritten(write.Generation, write.Step, write.Path, sha, metadata, [.. _part!.ParameterNames]), self);
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
                    coordinator.Tell(new StepFailed(generation, step, _setup.Id, e.Message, _held?.Step), self);
            }
        });
    }

    private static Device DeviceFor(string device, int localIndex) =>
        device == "cuda" ? new Device(TorchSharp.DeviceType.CUDA, localIndex) : CPU;
}
