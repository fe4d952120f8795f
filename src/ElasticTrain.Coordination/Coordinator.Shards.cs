using Akka.Actor;
using Akka.Event;
using ElasticTrain.Coordination.ParameterServer;
using ElasticTrain.Jobs;
using ElasticTrain.ParameterServer;
using ElasticTrain.Ranks;
using ElasticTrain.Ranks.Optimization;
using ElasticTrain.Ranks.ParameterServer;

namespace ElasticTrain.Coordination;

// Parameter-server mode: the shards (entities of the job's shard region), each with its backup on
// another node, hold the state and apply each step; the ranks are workers. A generation first asks
// every replica what it holds and brings them all to one step (ShardStart: a replica that lost its
// state copies its sibling's, or all load the checkpoint), then the workers pull that step's values.
// Each step every replica sums the workers' pushes and reports its share of the squared gradient
// norm; once every worker and every replica has reported (so the backup holds the step before it is
// committed), the coordinator journals the step as in all-reduce mode and sends every replica one
// clip coefficient and learning rate.
public sealed partial class Coordinator
{
    /// <summary>Time to ask the replicas whose squares the step in flight still lacks whether they live.</summary>
    private sealed record ProbeShards(long Generation, long Step);

    /// <summary>A missing replica's status, asked while every worker has reported and its squares have not come.</summary>
    private sealed record ShardProbed(long Generation, long Step, ShardId Replica, ShardStatus? Status);

    /// <summary>A replica's answer to the status asked as a generation starts, or why none came.</summary>
    private sealed record ShardAnswered(long Generation, ShardId Replica, ShardStatus? Status, string? Failure);

    /// <summary>A generation's replicas while they are asked and brought to one step.</summary>
    private sealed class ShardPreparation(long generation)
    {
        public long Generation { get; } = generation;
        public Dictionary<ShardId, long> Applied { get; } = [];
        public Dictionary<ShardId, string> DataPlanes { get; } = [];
        public Dictionary<ShardId, string> Nodes { get; } = [];
        public ShardStart.Plan? Plan { get; set; }
        /// <summary>Replicas still loading (a checkpoint, the seed, or their sibling's copy).</summary>
        public HashSet<ShardId> Pending { get; } = [];
        /// <summary>Copies being written, by path: the replica that loads each.</summary>
        public Dictionary<string, ShardId> Copies { get; } = [];
    }

    /// <summary>ssp and asp: the most steps after the current one that workers may be computing, on values up to that many steps old.</summary>
    private const int AspWindow = 4;

    private ShardPreparation? _shardPrep;
    private readonly SortedDictionary<long, StepPlan> _ahead = []; // steps handed to workers ahead of the current one
    private readonly List<StepExchanged> _early = [];              // their reports, come before their step is current
    private IReadOnlyList<ShardAddress> _shardAddresses = [];
    private Dictionary<ShardId, double>? _squares; // the step in flight's shares, by replica; null once committed
    private CheckpointRef? _shardsLoaded;            // the checkpoint the generation's shards fell back to, for JobRunning
    private IReadOnlyList<ShardId>? _replicas;
    private IReadOnlyDictionary<ShardId, string> _shardNodes = new Dictionary<ShardId, string>(); // as the generation started

    /// <summary>For status: every replica's node and bytes, and the rate at which each applies updates (one per committed step).</summary>
    private ShardPlace[]? ShardPlaces() => ParameterServerMode
        ? [.. Replicas.Select(r => new ShardPlace(r, _shardNodes.GetValueOrDefault(r, "?"), _setup.Shards!.Plan.BytesOf(r.Index),
            _throughput.SamplesPerSecond(Job.GlobalBatch) / Job.GlobalBatch))]
        : null;

    private bool ParameterServerMode => _setup.Shards is not null;

    private int ShardCount => _setup.Shards!.Plan.Shards;

    private ShardId ShardOf(int index) => new(Job.Id, index);

    /// <summary>Every shard and, with backups, its backup: in index order, a shard before its backup.</summary>
    private IReadOnlyList<ShardId> Replicas => _replicas ??=
        [.. Enumerable.Range(0, ShardCount).SelectMany(i => _setup.Training.ParameterServer!.Backup ? new[] { ShardOf(i), ShardOf(i).Sibling } : [ShardOf(i)])];

    private IActorRef Region => _setup.Shards!.Region;

    private void CommandsOfShards()
    {
        Command<ShardAnswered>(OnShardAnswered);
        Command<ProbeShards>(OnProbeShards);
        Command<ShardProbed>(probed =>
        {
            // A replica that holds less than the step before the one in flight started afresh: its node died
            // (no entity lived to say so) and Sharding placed it anew. The step cannot complete.
            if (probed.Generation == _state.Generation && _step?.Step == probed.Step && _squares is { } shares && !shares.ContainsKey(probed.Replica)
                && probed.Status is { } status && status.AppliedStep < probed.Step - 1)
                Abort($"parameter shard {probed.Replica} lost its state (it holds step {status.AppliedStep}): its node left", verify: true);
        });
        Command<ShardLoaded>(OnShardLoaded);
        Command<ShardSquares>(OnShardSquares);
        Command<ShardApplied>(_ => { }); // a worker's pull waits for the apply itself
        Command<ShardCheckpointWritten>(OnShardPartWritten);
        Command<ShardStepFailed>(failed =>
        {
            if (failed.Generation == _state.Generation && (_shardPrep is not null || _step is not null))
                Abort($"parameter shard {failed.Shard} failed at step {failed.Step}: {failed.Reason}", verify: true);
        });
    }

    /// <summary>The generation is journaled: ask every replica what it holds (continues in <see cref="OnShardAnswered"/>).</summary>
    private void PrepareShards()
    {
        ForgetAhead();
        var generation = _state.Generation;
        _shardPrep = new ShardPreparation(generation);
        _shardsLoaded = null;
        foreach (var replica in Replicas) AskStatus(generation, replica);
    }

    /// <summary>
    /// Asks a replica what it holds, briefly: a question sent while its node is dying, before this
    /// node's region knows, is lost rather than kept, so an unanswered one is asked again (the
    /// generation's preparation timeout bounds the whole).
    /// </summary>
    private void AskStatus(long generation, ShardId replica) =>
        Region.Ask<ShardStatus>(new GetShardStatus(replica), _setup.Liveness * 4).PipeTo(Self,
            success: status => new ShardAnswered(generation, replica, status, null),
            failure: e => new ShardAnswered(generation, replica, null, e.Message));

    private void OnShardAnswered(ShardAnswered answer)
    {
        if (_shardPrep is not { } prep || answer.Generation != prep.Generation || answer.Generation != _state.Generation || prep.Plan is not null) return;
        if (answer.Status is not { } status)
        {
            _log.Info("generation {0}: parameter shard {1} did not answer ({2}); asking again", prep.Generation, answer.Replica, answer.Failure);
            AskStatus(prep.Generation, answer.Replica);
            return;
        }
        prep.Applied[answer.Replica] = status.AppliedStep;
        prep.DataPlanes[answer.Replica] = status.DataPlane;
        prep.Nodes[answer.Replica] = status.Node;
        if (prep.Applied.Count < Replicas.Count) return;
        var plan = ShardStart.Decide(prep.Applied, _state.CommittedStep, _state.LastCheckpoint);
        prep.Plan = plan;
        if (plan.FallsBack)
        {
            _log.Info("generation {0}: the shards hold steps [{1}]; all load {2}", prep.Generation,
                string.Join(", ", Replicas.Select(r => $"{r}: {prep.Applied[r]}")), plan.Checkpoint is { } c ? $"the checkpoint of step {c.Step}" : "the seed");
            _shardsLoaded = plan.Checkpoint;
            foreach (var replica in plan.Loading)
            {
                prep.Pending.Add(replica);
                Region.Tell(new LoadShard(replica, prep.Generation, plan.Checkpoint));
            }
        }
        else if (plan.Copies.Count > 0)
        {
            _log.Info("generation {0}: {1} take their sibling's state at step {2}", prep.Generation, string.Join(", ", plan.Copies.Keys), plan.StateStep);
            var metadata = StateCheckpoint.Metadata(Job, _setup.IdentityHash, plan.StateStep, _members.Length, _setup.EpochOf?.Invoke(plan.StateStep) ?? 0);
            foreach (var (target, source) in plan.Copies)
            {
                var path = _setup.Checkpoints.CopyPathFor(Job.Id, target.EntityId);
                prep.Pending.Add(target);
                prep.Copies[path] = target;
                Region.Tell(new WriteShardCheckpoint(source, prep.Generation, plan.StateStep, path, metadata));
            }
        }
        if (prep.Pending.Count == 0) OrderWorkers(prep);
    }

    /// <summary>A sibling's copy is written: its replica loads it. Any other part is the checkpoint's.</summary>
    private void OnShardPartWritten(ShardCheckpointWritten written)
    {
        if (_shardPrep is { Plan: { } plan } prep && written.Generation == prep.Generation && prep.Copies.Remove(written.Path, out var target))
        {
            Region.Tell(new LoadShard(target, prep.Generation, new CheckpointRef(plan.StateStep, written.Path, written.Sha256), Part: true));
            return;
        }
        OnPartWritten(written.Generation, written.Path, written.Step, written.Sha256, written.Metadata, written.Parameters);
    }

    private void OnShardLoaded(ShardLoaded loaded)
    {
        if (_shardPrep is not { Plan: { } plan } prep || loaded.Generation != prep.Generation || loaded.Step != plan.StateStep) return;
        if (!prep.Pending.Remove(loaded.Shard)) return;
        prep.DataPlanes[loaded.Shard] = loaded.DataPlane;
        if (prep.Pending.Count == 0) OrderWorkers(prep);
    }

    /// <summary>Every replica holds the state step: the workers pull it (<see cref="PullShards"/>) and report ready as in all-reduce mode.</summary>
    private void OrderWorkers(ShardPreparation prep)
    {
        _shardPrep = null;
        var plan = prep.Plan!;
        _shardAddresses = [.. Replicas.Select(r => new ShardAddress(r, prep.DataPlanes[r]))];
        _shardNodes = prep.Nodes;
        var pull = new PullShards(_shardAddresses);
        _statePlan = new MeshStatePlanner.Plan(plan.StateStep,
            _members.ToDictionary(m => m, m => (IReadOnlyList<MeshStatePlanner.Source>)[new MeshStatePlanner.Source(_mesh!.LayersOf(m), pull)]));
        _handOffs = new Dictionary<RankId, RankId>();
        foreach (var (to, order) in GenerationOrders.For(Job.Id, _state.Generation, _mesh!, _statePlan, _roster)) to.Tell(order);
        _log.Info("generation {0}: {1} workers on {2} parameter shards ({3} replicas), resuming at step {4}",
            _state.Generation, _members.Length, ShardCount, Replicas.Count, plan.ResumeStep);
    }

    /// <summary>Every shard writes its part of the checkpoint of <paramref name="step"/> (the optimizer state is theirs alone); backups hold the same.</summary>
    private void WriteShardCheckpoints(long step)
    {
        var paths = ShardCount == 1
            ? [_setup.Checkpoints.PathFor(Job.Id, step)]
            : Enumerable.Range(0, ShardCount).Select(s => _setup.Checkpoints.PartPathFor(Job.Id, step, s, ShardCount)).ToArray();
        _writing = new CheckpointParts(step, paths);
        _checkpointClock.Restart();
        var metadata = StateCheckpoint.Metadata(Job, _setup.IdentityHash, step, _step!.Plan.Slices.Count, _setup.EpochOf?.Invoke(step) ?? 0);
        for (var s = 0; s < ShardCount; s++)
            Region.Tell(new WriteShardCheckpoint(ShardOf(s), _state.Generation, step, paths[s], metadata));
    }

    /// <summary>
    /// How many steps after the current one the workers may compute: none under bsp, the staleness
    /// under ssp (a worker computing step k then holds the values of step k - 1 - s at least: it
    /// pulled them, since the coordinator hands out step k only once step k - 1 - s is committed),
    /// and under asp <see cref="AspWindow"/>: no bound the math asks for. A shard applies whole
    /// global-batch steps in order, so a worker gains nothing by computing further ahead than the
    /// commits go: each step ahead is a model-sized gradient it keeps, computed on older values.
    /// </summary>
    private int Window => _setup.Training.ParameterServer!.Consistency switch
    {
        Consistency.Ssp => _setup.Training.ParameterServer.Staleness,
        Consistency.Asp => AspWindow,
        _ => 0,
    };

    /// <summary>Hands the workers the steps after <paramref name="current"/> up to the window, each planned once.</summary>
    private void RunAhead(long current)
    {
        for (var step = current + 1; step <= Math.Min(current + Window, Job.Steps); step++)
        {
            if (_ahead.ContainsKey(step)) continue;
            var plan = StepPlanner.Plan(step, _mesh!, Job.GlobalBatch, _roster.Speeds);
            _ahead[step] = plan;
            SendStep(plan);
        }
    }

    /// <summary>The reports of <paramref name="step"/> that came before it was current.</summary>
    private List<StepExchanged> TakeEarly(long step)
    {
        var early = _early.Where(e => e.Step == step).ToList();
        _early.RemoveAll(e => e.Step <= step);
        return early;
    }

    /// <summary>A new generation plans its steps afresh: what was handed out ahead runs again.</summary>
    private void ForgetAhead()
    {
        _ahead.Clear();
        _early.Clear();
    }

    /// <summary>How many committed steps the oldest values a slice of the step was computed on lacked (ssp, asp); null otherwise.</summary>
    private long? StalenessOf(StepTally tally) =>
        ParameterServerMode && Window > 0 ? tally.Reports.Max(r => r.BasedOn >= 0 ? tally.Step - 1 - r.BasedOn : 0) : null;

    /// <summary>With the step's plan: every replica expects one slice from each of its ranks.</summary>
    private void ExpectShardStep(StepPlan plan)
    {
        _squares = [];
        RankId[] workers = [.. plan.Slices.Select(s => s.Rank)];
        foreach (var replica in Replicas)
            Region.Tell(new ExpectStep(replica, _state.Generation, plan.Step, workers, Job.GlobalBatch));
    }

    /// <summary>
    /// Every worker has reported and some replica's squares have not come: asks the missing ones,
    /// every liveness interval, what they hold. A replica whose node died says nothing until
    /// Sharding, once the node is downed, starts it anew elsewhere: then it answers, holding nothing.
    /// </summary>
    private void WatchMissingShards(long step)
    {
        if (!Timers.IsTimerActive("shard-probe"))
            Timers.StartPeriodicTimer("shard-probe", new ProbeShards(_state.Generation, step), _setup.Liveness);
    }

    private void OnProbeShards(ProbeShards probe)
    {
        if (probe.Generation != _state.Generation || _step?.Step != probe.Step || _squares is not { } shares)
        {
            Timers.Cancel("shard-probe");
            return;
        }
        foreach (var replica in Replicas.Where(r => !shares.ContainsKey(r)))
            Region.Ask<ShardStatus>(new GetShardStatus(replica), _setup.Liveness)
                .PipeTo(Self, success: status => new ShardProbed(probe.Generation, probe.Step, replica, status),
                    failure: _ => new ShardProbed(probe.Generation, probe.Step, replica, null)); // silent: asked again next time
    }

    private void OnShardSquares(ShardSquares squares)
    {
        if (squares.Generation != _state.Generation || _step is not { } tally || squares.Step != tally.Step || _squares is not { } shares) return;
        shares[squares.Shard] = squares.Squares;
        if (tally.Complete) TryCommit(tally);
    }

    /// <summary>
    /// Whether every replica has every slice of the step in flight; if so, the whole model's squared
    /// gradient norm, added up over the shards (a backup's share is its shard's).
    /// </summary>
    private bool ShardsSummed(out double squares)
    {
        squares = 0;
        if (_squares is not { } shares) return false;
        if (shares.Count < Replicas.Count)
        {
            WatchMissingShards(_step!.Step);
            return false;
        }
        Timers.Cancel("shard-probe");
        // In shard order, so that the same shares always add up to the same double.
        for (var s = 0; s < ShardCount; s++) squares += shares[ShardOf(s)];
        _squares = null;
        return true;
    }

    /// <summary>The commit is durable: every replica applies the step at the same clip coefficient and rate.</summary>
    private void ApplyOnShards(long step, double gradientSquares)
    {
        var coefficient = UpdateRule.ClipCoefficient(Math.Sqrt(gradientSquares), _setup.Training.ClipNorm);
        var rate = _setup.Training.Schedule.At(step, Job.LearningRate);
        foreach (var replica in Replicas)
            Region.Tell(new ApplyShardStep(replica, _state.Generation, step, coefficient, rate));
    }
}
