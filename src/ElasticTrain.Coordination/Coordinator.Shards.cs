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
// another node, hold the state and apply each step; the ranks are workers. A generation first
// brings every replica to one step (Coordinator.ShardStart.cs), then the workers pull its values.
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

    private IReadOnlyList<ShardAddress> _shardAddresses = [];
    private Dictionary<ShardId, double>? _squares; // the step in flight's shares, by replica; null once committed
    private IReadOnlyList<ShardId>? _replicas;
    private IReadOnlyDictionary<ShardId, string> _shardNodes = new Dictionary<ShardId, string>(); // as the generation started

    /// <summary>For status: every replica's node and bytes, and the rate at which each applies updates (one per committed step).</summary>
    private ShardPlace[]? ShardPlaces()
    {
        if (!ParameterServerMode) return null;
        var stepsPerSecond = _throughput.SamplesPerSecond(Job.GlobalBatch) / Job.GlobalBatch;
        return [.. Replicas.Select(r => new ShardPlace(r, _shardNodes.GetValueOrDefault(r, "?"), _setup.Shards!.Plan.BytesOf(r.Index), stepsPerSecond))];
    }

    private bool ParameterServerMode => _setup.Shards is not null;

    /// <summary>
    /// A generation is stepping, so every replica loaded its state step (<see cref="OrderWorkers"/>
    /// came first) and none is loading: moving one now leaves its sibling to copy from. Between
    /// generations, or while they prepare, a replica may be the only holder of its pair's state.
    /// </summary>
    private bool ShardsSettledNow => ParameterServerMode && _shardPrep is null && _step is not null;

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
            if (probed.Generation == _state.Generation && _step?.Step == probed.Step && AwaitsReplica(probed.Replica)
                && probed.Status is { } status && status.AppliedStep < probed.Step - 1)
                Abort($"parameter shard {probed.Replica} lost its state (it holds step {status.AppliedStep}): its node left", verify: true);
        });
        Command<ShardLoaded>(OnShardLoaded);
        Command<WatchShardPreparation>(OnWatchShardPreparation);
        Command<ShardPreparationProbed>(OnShardPreparationProbed);
        Command<ShardSquares>(OnShardSquares);
        Command<ShardUpdateNorms>(OnShardUpdateNorms);
        Command<ShardApplied>(_ => { }); // a worker's pull waits for the apply itself
        Command<ShardCheckpointWritten>(w => OnPartWritten(w.Generation, w.Path, w.Step, w.Sha256, w.Metadata, w.Parameters));
        Command<ShardStateOffered>(OnShardStateOffered);
        Command<AreShardsSettled>(_ => Sender.Tell(new ShardsSettled(ShardsSettledNow)));
        Command<ShardStepFailed>(failed =>
        {
            if (failed.Generation == _state.Generation && (_shardPrep is not null || _step is not null))
                Abort($"parameter shard {failed.Shard} failed at step {failed.Step}: {failed.Reason}", verify: true);
        });
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

    /// <summary>With the step's plan: every replica expects one slice from each of its ranks.</summary>
    private void ExpectShardStep(StepPlan plan)
    {
        _squares = [];
        _trustRound = null;
        RankId[] workers = [.. plan.Slices.Select(s => s.Rank)];
        foreach (var replica in Replicas)
            Region.Tell(new ExpectStep(replica, _state.Generation, plan.Step, workers, Job.GlobalBatch, _setup.Training.LossScaleAt(plan.Step, _overflows)));
    }

    /// <summary>Whether the step in flight waits for <paramref name="replica"/>'s squares or, in LAMB's round, its update norms.</summary>
    private bool AwaitsReplica(ShardId replica) =>
        _trustRound is { } round ? !round.Has(replica) : _squares is { } shares && !shares.ContainsKey(replica);

    /// <summary>
    /// Every worker has reported and some replica's answer has not come: asks the missing ones,
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
        if (probe.Generation != _state.Generation || _step?.Step != probe.Step || (_squares is null && _trustRound is null))
        {
            Timers.Cancel("shard-probe");
            return;
        }
        foreach (var replica in Replicas.Where(AwaitsReplica))
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
    /// Whether every replica has every slice of the step in flight; if so, takes the whole model's
    /// squared gradient norm, added up over the shards (a backup's share is its shard's), and the
    /// step's shares are done with. If not, watches the replicas still missing.
    /// </summary>
    private bool TakeShardSquares(out double squares)
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

    /// <summary>
    /// The commit is durable: every replica applies the step at the same clip coefficient, rate and
    /// (LAMB) trust ratios, or, when the gradient overflowed anywhere (fp16), every one skips it.
    /// </summary>
    private void ApplyOnShards(long step, double gradientSquares, TrustRatio[]? trust)
    {
        var overflowed = !UpdateRule.Applies(gradientSquares);
        var coefficient = overflowed ? 1 : ShardClip(gradientSquares);
        var rate = _setup.Training.Schedule.At(step, Job.LearningRate);
        foreach (var replica in Replicas)
            Region.Tell(new ApplyShardStep(replica, _state.Generation, step, coefficient, rate, trust, overflowed));
    }

    private double ShardClip(double gradientSquares) => UpdateRule.ClipCoefficient(Math.Sqrt(gradientSquares), _setup.Training.ClipNorm);
}
