using Akka.Actor;
using Akka.Event;
using ElasticTrain.Collectives;
using ElasticTrain.Data;
using ElasticTrain.Jobs;
using static TorchSharp.torch;

namespace ElasticTrain.Ranks;

/// <summary>
/// A rank: a thin actor around a <see cref="Replica"/> on its own <see cref="ComputeThread"/>.
/// It fences by generation (drops and counts anything from another one), asks its
/// <see cref="DataLoader"/> for its slice, feeds ring chunks to the exchange, and reports back.
/// The actor never blocks: all tensor work and the exchange itself run on the compute thread.
/// </summary>
public sealed class Rank : ReceiveActor
{
    /// <param name="Name">Unique within the job, e.g. "127.0.0.1:4711/r0"; orders the ring.</param>
    /// <param name="LocalIndex">Index among the ranks of this process; picks cuda:i.</param>
    public sealed record Setup(
        string Name, int LocalIndex, JobConfig Job, string IdentityHash, string Device,
        string CollectiveName, TimeSpan ExchangeTimeout, IActorRef Coordinator, IActorRef Loader, EpochSchedule Schedule);

    public static Props Props(Setup setup) => Akka.Actor.Props.Create(() => new Rank(setup));

    private readonly Setup _setup;
    private readonly ComputeThread _compute;
    private readonly ExchangeInbox _inbox = new();
    private readonly ICollective _collective;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private Replica? _replica;        // owned by the compute thread once created
    private long _generation;
    private Dictionary<string, IActorRef> _members = [];
    private CancellationTokenSource _generationCancel = new();
    private long _droppedStale;
    private (RunStep Run, int Position, IActorRef Coordinator)? _pending; // the step waiting for its slice

    public Rank(Setup setup)
    {
        _setup = setup;
        _compute = new ComputeThread($"rank-{setup.LocalIndex}");
        _collective = Collective.Create(setup.CollectiveName, _inbox, setup.ExchangeTimeout);

        Receive<PrepareRank>(OnPrepare);
        Receive<RunStep>(OnRunStep);
        Receive<DataLoader.SliceBatch>(OnBatch);
        Receive<RingChunk>(chunk =>
        {
            if (chunk.Generation < _generation) _droppedStale++;
            else _inbox.Post(chunk);
        });
        Receive<WriteCheckpoint>(OnWriteCheckpoint);
        Receive<GetRankStatus>(_ => Sender.Tell(new RankStatus(setup.Name, _generation, _droppedStale + _inbox.Dropped)));
    }

    protected override void PreStart() => _setup.Coordinator.Tell(new RegisterRank(_setup.Name, Self));

    protected override void PostStop()
    {
        _generationCancel.Cancel();
        _compute.Post(() => _replica?.Dispose());
        _compute.Dispose();
    }

    private bool Stale(long generation)
    {
        if (generation == _generation) return false;
        _droppedStale++;
        _log.Debug("dropped a message of generation {0} in generation {1}", generation, _generation);
        return true;
    }

    private void OnPrepare(PrepareRank prepare)
    {
        if (prepare.Generation <= _generation) { _droppedStale++; return; }
        // A new generation aborts whatever exchange the old one left waiting on a peer.
        _generationCancel.Cancel();
        _generationCancel = new CancellationTokenSource();
        _generation = prepare.Generation;
        _members = prepare.Members.ToDictionary(m => m.Rank, m => m.Endpoint);
        var coordinator = Sender;
        var self = Self;
        _compute.Post(() =>
        {
            try
            {
                _inbox.DropBefore(prepare.Generation, 0);
                // Without a checkpoint the state is rebuilt from the seed, so that whatever an
                // interrupted step may have applied on this replica is undone.
                if (_replica is null || prepare.Restore is null)
                {
                    _replica?.Dispose();
                    _replica = new Replica(_setup.Job, _setup.IdentityHash, DeviceFor(_setup.Device, _setup.LocalIndex));
                }
                if (prepare.Restore is not null) _replica.Restore(prepare.Restore);
                coordinator.Tell(new RankReady(prepare.Generation, _setup.Name), self);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                coordinator.Tell(new StepFailed(prepare.Generation, 0, _setup.Name, $"cannot prepare: {e.Message}"), self);
            }
        });
    }

    private void OnRunStep(RunStep run)
    {
        if (Stale(run.Generation)) return;
        var position = run.Plan.PositionOf(_setup.Name);
        if (position < 0) return; // idle in this step
        var slice = run.Plan.Slices[position];
        _setup.Loader.Tell(new DataLoader.Fetch(run.Generation, run.Plan.Step, slice.Offset, slice.Count));
        var next = run.Next?.PositionOf(_setup.Name) is int n and >= 0 ? run.Next.Slices[n] : null;
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
        var self = Self;
        _compute.Post(() =>
        {
            try
            {
                var outcome = _replica!.Step(batch.Tokens, batch.SampleIds.Length, _collective, group, cancellation);
                pending.Coordinator.Tell(new StepDone(batch.Generation, batch.Step, _setup.Name, outcome.LossSum,
                    batch.SampleIds.Length, outcome.ComputeMs, outcome.ExchangeMs), self);
            }
            catch (OperationCanceledException)
            {
                // The generation ended under us; its coordinator no longer waits for this step.
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                pending.Coordinator.Tell(new StepFailed(batch.Generation, batch.Step, _setup.Name, e.Message), self);
            }
        });
    }

    private IActorRef RingMember(string rank) =>
        _members.TryGetValue(rank, out var endpoint)
            ? endpoint
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
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                coordinator.Tell(new CheckpointFailed(write.Generation, write.Step, e.Message), self);
            }
        });
    }

    /// <summary>The actor name a rank is created under, derived from its job-wide name.</summary>
    public static string RankActorName(string rank) => "rank-" + Uri.EscapeDataString(rank);

    private static Device DeviceFor(string device, int localIndex) =>
        device == "cuda" ? new Device(TorchSharp.DeviceType.CUDA, localIndex) : CPU;
}
