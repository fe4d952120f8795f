using Akka.Actor;
using Akka.Event;
using ElasticTrain.Coordination.ParameterServer;
using ElasticTrain.Jobs;
using ElasticTrain.ParameterServer;
using ElasticTrain.Ranks;
using ElasticTrain.Ranks.Optimization;
using ElasticTrain.Ranks.ParameterServer;

namespace ElasticTrain.Coordination;

// Parameter-server mode: the shards (entities of the job's shard region) hold the state and apply
// each step; the ranks are workers. A generation first asks every shard what it holds and has them
// load a common step when they disagree (ShardStart), then the workers pull the values of that
// step. Each step the shards sum the workers' pushes and report their share of the squared
// gradient norm; once every worker and every shard has reported, the coordinator journals the
// step as in all-reduce mode and sends each shard one clip coefficient and learning rate.
public sealed partial class Coordinator
{
    /// <summary>A shard's answer to the status asked as a generation starts, or why none came.</summary>
    private sealed record ShardAnswered(long Generation, int Shard, ShardStatus? Status, string? Failure);

    /// <summary>A generation's shards while they are asked and loaded.</summary>
    private sealed class ShardPreparation(long generation, int shards)
    {
        public long Generation { get; } = generation;
        public long[] Applied { get; } = [.. Enumerable.Repeat(-2L, shards)]; // -2: not answered yet
        public string[] DataPlanes { get; } = new string[shards];
        public ShardStart.Plan? Plan { get; set; }
        public HashSet<int> Loading { get; } = [];
    }

    private ShardPreparation? _shardPrep;
    private IReadOnlyList<ShardAddress> _shardAddresses = [];
    private Dictionary<int, double>? _squares; // the step in flight's shares, by shard; null once committed
    private CheckpointRef? _shardsLoaded;        // the checkpoint the generation's shards loaded, for JobRunning

    private bool ParameterServerMode => _setup.Shards is not null;

    private int ShardCount => _setup.Shards!.Plan.Shards;

    private ShardId ShardOf(int index) => new(Job.Id, index);

    private void CommandsOfShards()
    {
        Command<ShardAnswered>(OnShardAnswered);
        Command<ShardLoaded>(OnShardLoaded);
        Command<ShardSquares>(OnShardSquares);
        Command<ShardApplied>(_ => { }); // a worker's pull waits for the apply itself
        Command<ShardCheckpointWritten>(w => OnPartWritten(w.Generation, w.Path, w.Step, w.Sha256, w.Metadata, w.Parameters));
        Command<ShardStepFailed>(failed =>
        {
            if (failed.Generation == _state.Generation && (_shardPrep is not null || _step is not null))
                Abort($"parameter shard {failed.Shard.Index} failed at step {failed.Step}: {failed.Reason}", verify: true);
        });
    }

    /// <summary>The generation is journaled: ask every shard what it holds (continues in <see cref="OnShardAnswered"/>).</summary>
    private void PrepareShards()
    {
        var generation = _state.Generation;
        _shardPrep = new ShardPreparation(generation, ShardCount);
        _shardsLoaded = null;
        var region = _setup.Shards!.Region;
        for (var s = 0; s < ShardCount; s++)
        {
            var shard = s;
            region.Ask<ShardStatus>(new GetShardStatus(ShardOf(shard)), _setup.StepTimeout).PipeTo(Self,
                success: status => new ShardAnswered(generation, shard, status, null),
                failure: e => new ShardAnswered(generation, shard, null, e.Message));
        }
    }

    private void OnShardAnswered(ShardAnswered answer)
    {
        if (_shardPrep is not { } prep || answer.Generation != prep.Generation || answer.Generation != _state.Generation || prep.Plan is not null) return;
        if (answer.Status is not { } status)
        {
            Abort($"parameter shard {answer.Shard} did not answer within {_setup.StepTimeout.TotalSeconds:0} s ({answer.Failure})", verify: false);
            return;
        }
        prep.Applied[answer.Shard] = status.AppliedStep;
        prep.DataPlanes[answer.Shard] = status.DataPlane;
        if (prep.Applied.Any(a => a == -2)) return;
        var plan = ShardStart.Decide(prep.Applied, _state.CommittedStep, _state.LastCheckpoint);
        prep.Plan = plan;
        if (plan.Loading.Count == 0)
        {
            OrderWorkers(prep);
            return;
        }
        _log.Info("generation {0}: parameter shards hold steps [{1}]; all load {2}", prep.Generation, string.Join(", ", prep.Applied),
            plan.Checkpoint is { } c ? $"the checkpoint of step {c.Step}" : "the seed");
        _shardsLoaded = plan.Checkpoint;
        foreach (var shard in plan.Loading)
        {
            prep.Loading.Add(shard);
            _setup.Shards!.Region.Tell(new LoadShard(ShardOf(shard), prep.Generation, plan.Checkpoint));
        }
    }

    private void OnShardLoaded(ShardLoaded loaded)
    {
        if (_shardPrep is not { Plan: { } plan } prep || loaded.Generation != prep.Generation || loaded.Step != plan.StateStep) return;
        if (!prep.Loading.Remove(loaded.Shard.Index)) return;
        prep.DataPlanes[loaded.Shard.Index] = loaded.DataPlane;
        if (prep.Loading.Count == 0) OrderWorkers(prep);
    }

    /// <summary>Every shard holds the state step: the workers pull it (<see cref="PullShards"/>) and report ready as in all-reduce mode.</summary>
    private void OrderWorkers(ShardPreparation prep)
    {
        _shardPrep = null;
        var plan = prep.Plan!;
        _shardAddresses = [.. prep.DataPlanes.Select((plane, s) => new ShardAddress(ShardOf(s), plane))];
        var pull = new PullShards(_shardAddresses);
        _statePlan = new MeshStatePlanner.Plan(plan.StateStep,
            _members.ToDictionary(m => m, m => (IReadOnlyList<MeshStatePlanner.Source>)[new MeshStatePlanner.Source(_mesh!.LayersOf(m), pull)]));
        _handOffs = new Dictionary<RankId, RankId>();
        foreach (var (to, order) in GenerationOrders.For(Job.Id, _state.Generation, _mesh!, _statePlan, _roster)) to.Tell(order);
        _log.Info("generation {0}: {1} workers on {2} parameter shards, resuming at step {3}", _state.Generation, _members.Length, ShardCount, plan.ResumeStep);
    }

    /// <summary>Every shard writes its part of the checkpoint of <paramref name="step"/> (the optimizer state is theirs alone).</summary>
    private void WriteShardCheckpoints(long step)
    {
        var paths = ShardCount == 1
            ? [_setup.Checkpoints.PathFor(Job.Id, step)]
            : Enumerable.Range(0, ShardCount).Select(s => _setup.Checkpoints.PartPathFor(Job.Id, step, s, ShardCount)).ToArray();
        _writing = new CheckpointParts(step, paths);
        _checkpointClock.Restart();
        var metadata = StateCheckpoint.Metadata(Job, _setup.IdentityHash, step, _step!.Plan.Slices.Count, _setup.EpochOf?.Invoke(step) ?? 0);
        for (var s = 0; s < ShardCount; s++)
            _setup.Shards!.Region.Tell(new WriteShardCheckpoint(ShardOf(s), _state.Generation, step, paths[s], metadata));
    }

    /// <summary>With the step's plan: every shard expects one slice from each of its ranks.</summary>
    private void ExpectShardStep(StepPlan plan)
    {
        _squares = [];
        RankId[] workers = [.. plan.Slices.Select(s => s.Rank)];
        for (var s = 0; s < ShardCount; s++)
            _setup.Shards!.Region.Tell(new ExpectStep(ShardOf(s), _state.Generation, plan.Step, workers, Job.GlobalBatch));
    }

    private void OnShardSquares(ShardSquares squares)
    {
        if (squares.Generation != _state.Generation || _step is not { } tally || squares.Step != tally.Step || _squares is not { } shares) return;
        shares[squares.Shard.Index] = squares.Squares;
        if (tally.Complete) TryCommit(tally);
    }

    /// <summary>In parameter-server mode, the whole model's squared gradient norm once every shard has given its share; else null (keep waiting).</summary>
    private bool ShardsSummed(out double squares)
    {
        squares = 0;
        if (_squares is not { } shares || shares.Count < ShardCount) return false;
        // In shard order, so that the same shares always add up to the same double.
        for (var s = 0; s < ShardCount; s++) squares += shares[s];
        _squares = null;
        return true;
    }

    /// <summary>The commit is durable: every shard applies the step at the same clip coefficient and rate.</summary>
    private void ApplyOnShards(long step, double gradientSquares)
    {
        var coefficient = UpdateRule.ClipCoefficient(Math.Sqrt(gradientSquares), _setup.Training.ClipNorm);
        var rate = _setup.Training.Schedule.At(step, Job.LearningRate);
        for (var s = 0; s < ShardCount; s++)
            _setup.Shards!.Region.Tell(new ApplyShardStep(ShardOf(s), _state.Generation, step, coefficient, rate));
    }
}
