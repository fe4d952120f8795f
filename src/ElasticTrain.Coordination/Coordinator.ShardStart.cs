using Akka.Actor;
using Akka.Event;
using ElasticTrain.Coordination.ParameterServer;
using ElasticTrain.Jobs;
using ElasticTrain.ParameterServer;
using ElasticTrain.Ranks;
using ElasticTrain.Ranks.ParameterServer;

namespace ElasticTrain.Coordination;

// A parameter-server generation's start: every shard and backup is asked what it holds, brought
// to one step (ShardStart: kept, a copy of its sibling's sent over the data plane, or the
// checkpoint), and only then are the workers told to pull that step's values.
public sealed partial class Coordinator
{
    /// <summary>A replica's answer to the status asked as a generation starts, or why none came.</summary>
    private sealed record ShardAnswered(long Generation, ShardId Replica, ShardStatus? Status, string? Failure);

    /// <summary>Time to ask the replicas with a preparation command outstanding whether they are still the ones commanded.</summary>
    private sealed record WatchShardPreparation(long Generation);

    /// <summary>A commanded replica's status, asked while the preparation waits for it.</summary>
    private sealed record ShardPreparationProbed(long Generation, ShardId Replica, ShardStatus? Status);

    /// <summary>A generation's replicas while they are asked and brought to one step.</summary>
    private sealed class ShardPreparation(long generation)
    {
        public long Generation { get; } = generation;
        public Dictionary<ShardId, long> Applied { get; } = [];
        public Dictionary<ShardId, string> DataPlanes { get; } = [];
        public Dictionary<ShardId, string> Nodes { get; } = [];
        public ShardStart.Plan? Plan { get; set; }
        /// <summary>Replicas still loading (a checkpoint, the seed, or their sibling's state).</summary>
        public HashSet<ShardId> Pending { get; } = [];
        /// <summary>Replicas sent a command not yet answered: loaders and copy targets until loaded, copy sources until they offer.</summary>
        public HashSet<ShardId> Commanded { get; } = [];
    }

    private ShardPreparation? _shardPrep;
    private CheckpointRef? _shardsLoaded;            // the checkpoint the generation's shards fell back to, for JobRunning

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
                prep.Commanded.Add(replica);
                Region.Tell(new LoadShard(replica, prep.Generation, plan.Checkpoint));
            }
        }
        else if (plan.Copies.Count > 0)
        {
            _log.Info("generation {0}: {1} take their sibling's state at step {2}", prep.Generation, string.Join(", ", plan.Copies.Keys), plan.StateStep);
            foreach (var (target, source) in plan.Copies)
            {
                prep.Pending.Add(target);
                prep.Commanded.Add(source);
                Region.Tell(new CopyShardState(source, prep.Generation, plan.StateStep, target, prep.DataPlanes[target]));
            }
        }
        if (prep.Pending.Count == 0) OrderWorkers(prep);
        else Timers.StartPeriodicTimer("shard-prep-watch", new WatchShardPreparation(prep.Generation), _setup.Liveness);
    }

    /// <summary>
    /// Asks every replica with a command outstanding what it is: a rebalance round that was under
    /// way as the generation started may have moved it since, or dropped its command (see
    /// <see cref="ShardStart.Lost"/>); then the generation starts again at once, planned afresh,
    /// instead of waiting out the step timeout.
    /// </summary>
    private void OnWatchShardPreparation(WatchShardPreparation watch)
    {
        if (_shardPrep is not { Plan: not null } prep || prep.Generation != watch.Generation || watch.Generation != _state.Generation)
        {
            Timers.Cancel("shard-prep-watch");
            return;
        }
        foreach (var replica in prep.Commanded)
            Region.Ask<ShardStatus>(new GetShardStatus(replica), _setup.Liveness)
                .PipeTo(Self, success: status => new ShardPreparationProbed(watch.Generation, replica, status),
                    failure: _ => new ShardPreparationProbed(watch.Generation, replica, null)); // silent: asked again next time
    }

    private void OnShardPreparationProbed(ShardPreparationProbed probed)
    {
        if (_shardPrep is not { Plan: not null } prep || prep.Generation != probed.Generation || probed.Generation != _state.Generation
            || probed.Status is null || !prep.Commanded.Contains(probed.Replica)) return;
        if (ShardStart.Lost(probed.Replica, prep.Generation, prep.DataPlanes[probed.Replica], probed.Status) is { } why)
            Abort($"{why}; planning the generation again", verify: true);
    }

    /// <summary>A replica is sending its state to its sibling over the data plane: the sibling learns how to read it.</summary>
    private void OnShardStateOffered(ShardStateOffered offered)
    {
        if (_shardPrep is not { Plan: { } plan } prep || offered.Generation != prep.Generation || offered.Step != plan.StateStep || !prep.Pending.Contains(offered.Target)) return;
        prep.Commanded.Remove(offered.Shard);
        prep.Commanded.Add(offered.Target);
        Region.Tell(new ReceiveShardState(offered.Target, prep.Generation, plan.StateStep, offered.Shard, offered.Layout, prep.DataPlanes[offered.Target]));
    }

    private void OnShardLoaded(ShardLoaded loaded)
    {
        if (_shardPrep is not { Plan: { } plan } prep || loaded.Generation != prep.Generation || loaded.Step != plan.StateStep) return;
        if (!prep.Pending.Remove(loaded.Shard)) return;
        prep.Commanded.Remove(loaded.Shard);
        prep.DataPlanes[loaded.Shard] = loaded.DataPlane;
        if (prep.Pending.Count == 0) OrderWorkers(prep);
    }

    /// <summary>Every replica holds the state step: the workers pull it (<see cref="PullShards"/>) and report ready as in all-reduce mode.</summary>
    private void OrderWorkers(ShardPreparation prep)
    {
        _shardPrep = null;
        Timers.Cancel("shard-prep-watch");
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
}
