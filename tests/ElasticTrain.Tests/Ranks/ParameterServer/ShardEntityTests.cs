using System.Numerics.Tensors;
using System.Security.Cryptography;
using Akka.Actor;
using Akka.Cluster;
using Akka.Configuration;
using Akka.TestKit.Xunit2;
using ElasticTrain.Checkpointing;
using ElasticTrain.Collectives;
using ElasticTrain.Collectives.Transport;
using ElasticTrain.Configuration;
using ElasticTrain.Coordination;
using ElasticTrain.Jobs;
using ElasticTrain.ParameterServer;
using ElasticTrain.Ranks;
using ElasticTrain.Ranks.Optimization;
using ElasticTrain.Ranks.ParameterServer;
using ElasticTrain.Training;
using ElasticTrain.Tests.Support;
using ElasticTrain.Wire;
using static ElasticTrain.Tests.Support.TestRanks;
using static TorchSharp.torch;

namespace ElasticTrain.Tests.Ranks.ParameterServer;

/// <summary>
/// A tiny mlp job's three parameter shards as entities of a one-node cluster's shard region, fed by
/// two workers over a real data plane (their own listener, so the tensors cross TCP), and driven as a
/// coordinator would drive them: the values the workers pull back are those of shard optimizers
/// driven directly with the same mean gradients, within 1e-6. The job's real model, so that the
/// checkpoint the shards write loads into a replica of it.
/// </summary>
[Collection(nameof(TorchThreadsCollection))]
public class ShardEntityTests : TestKit
{
    private const string Job = "ps-test";
    private const double WeightDecay = 0.1;
    private const double LearningRate = 0.05;
    private const double ClipNorm = 0.5;
    private const int GlobalBatch = 8;
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);
    private static readonly OptimizerSettings Adamw = new(OptimizerKind.AdamW, DecayBiasesAndNorms: false);
    private static readonly JobConfig Spec = new(Job, "mlp", Layers: 1, Heads: 1, Width: 4, Block: 4, GlobalBatch: GlobalBatch, Steps: 10,
        LearningRate: LearningRate, WeightDecay: WeightDecay, Seed: 5, DataPath: "", CheckpointEvery: 100);
    private static readonly TrainingRecipe Recipe = new(Adamw, LearningRateSchedule.Constant, ClipNorm: ClipNorm);

    private static readonly Config OneNode = ConfigurationFactory.ParseString("""
        akka.loglevel = WARNING
        akka.actor.provider = cluster
        akka.remote.dot-netty.tcp { hostname = 127.0.0.1, port = 0 }
        akka.cluster.roles = [node]
        akka.cluster.sharding.retry-interval = 200ms
        akka.cluster.sharding.distributed-data.durable.keys = []
        """).WithFallback(HoconFiles.Reference(typeof(IWireMessage).Assembly));

    private sealed record Worker(RankId Id, RankPort Port, PointToPoint Tensors, int Samples);

    private readonly byte[] _secret = RandomNumberGenerator.GetBytes(32);
    private readonly TensorTransport _node;
    private readonly TensorTransport _workerNode;
    private readonly string _folder = Directory.CreateTempSubdirectory("shard-entity-").FullName;
    /// <summary>The job's parameters in the model's order: tok, pos, fc and out of the mlp; out.weight is split over all three shards.</summary>
    private readonly IReadOnlyList<ParameterShape> _model;
    private readonly ShardPlan _plan;
    private readonly NamedState _initial;
    /// <summary>The shards' optimizers driven directly: what the entities must match.</summary>
    private readonly List<ShardOptimizer> _reference;
    private readonly IActorRef _region;
    private readonly Worker _a;
    private readonly Worker _b;

    public ShardEntityTests() : base(OneNode)
    {
        _node = new TensorTransport("127.0.0.1", _secret);
        _workerNode = new TensorTransport("127.0.0.1", _secret);
        using (var replica = new Replica(Spec, "hash", CPU, bucketBytes: 0, Recipe))
        {
            _initial = NamedState.FromSections(replica.ExportState());
            _model = [.. replica.ParameterNames.Select(n => new ParameterShape(n, _initial[n].Value.Shape, sizeof(float)))];
        }
        _plan = ShardPlan.Balanced(_model, 3);
        _reference = [.. Enumerable.Range(0, _plan.Shards).Select(s => new ShardOptimizer(_plan.PiecesOf(s), _initial, Adamw, WeightDecay))];
        var cluster = Cluster.Get(Sys);
        cluster.Join(cluster.SelfAddress);
        AwaitCondition(() => cluster.SelfMember.Status == MemberStatus.Up, Wait);
        _region = ShardHost.Start(Sys, new ShardSetup(Job, "hash", _plan, Adamw, WeightDecay, _node, TimeSpan.FromSeconds(10)));
        _a = Open(R("w/r0"), 3);
        _b = Open(R("w/r1"), 5);
    }

    private Worker Open(RankId id, int samples)
    {
        var port = _workerNode.Open(id.ToString());
        return new Worker(id, port, new PointToPoint(port, TimeSpan.FromSeconds(10)), samples);
    }

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (!disposing) return;
        foreach (var r in _reference) r.Dispose();
        _node.Dispose();
        _workerNode.Dispose();
        Directory.Delete(_folder, recursive: true);
    }

    private ShardId Shard(int index) => new(Job, index);

    /// <summary>Writes the initial state as the job's checkpoint of step 0 and has every shard load it.</summary>
    private ShardLoaded[] Load(long generation)
    {
        var path = Path.Combine(_folder, "step-0.ckpt");
        var sha = CheckpointFile.Write(path, new CheckpointMetadata(Job, 0, "hash", 0, 0, 1, 2, 0), _initial.ToSections());
        for (var s = 0; s < _plan.Shards; s++) _region.Tell(new LoadShard(Shard(s), generation, new CheckpointRef(0, path, sha)));
        return [.. Enumerable.Range(0, _plan.Shards).Select(_ => ExpectMsg<ShardLoaded>(Wait)).OrderBy(l => l.Shard.Index)];
    }

    /// <summary>What a worker does: its gradient sums of the shard's pieces on the data plane, then the push through the region.</summary>
    private void Push(Worker worker, long generation, long step, ShardLoaded shard, float[][] sums)
    {
        var to = new ExchangeMember(shard.Shard.EntityId, shard.DataPlane);
        var sent = new SendTracker();
        var pieces = WholeModel.PieceGradients(_plan.PiecesOf(shard.Shard.Index), sums, _model);
        for (var piece = 0; piece < pieces.Length; piece++)
            worker.Tensors.Send(to, new ShardMessage(generation, step, shard.Shard.Index, piece, DataChannel.ShardGradients), pieces[piece], sent, CancellationToken.None);
        _region.Tell(new PushGradients(shard.Shard, generation, step, worker.Id, worker.Samples));
        sent.WaitAll(TimeSpan.FromSeconds(10));
    }

    private void AskToPull(Worker worker, long generation, long step, ShardLoaded shard) =>
        _region.Tell(new PullShard(shard.Shard, generation, step, worker.Id, _workerNode.Address));

    private float[][] Receive(Worker worker, long generation, long step, ShardLoaded shard)
    {
        var pieces = _plan.PiecesOf(shard.Shard.Index);
        var values = pieces.Select(p => new float[p.Elements]).ToArray();
        for (var piece = 0; piece < pieces.Count; piece++)
            worker.Tensors.Receive(shard.Shard.EntityId, new ShardMessage(generation, step, shard.Shard.Index, piece, DataChannel.ShardValues), values[piece], CancellationToken.None);
        return values;
    }

    /// <summary>The coordinator's part once every slice is pushed: the shards' squares, one clip coefficient, apply.</summary>
    private void Commit(long generation, long step, float[][] mean)
    {
        var squares = Enumerable.Range(0, _plan.Shards).Select(_ => ExpectMsg<ShardSquares>(Wait)).ToList();
        Assert.All(squares, s => Assert.Equal((generation, step), (s.Generation, s.Step)));
        var expected = _reference.Sum(r => r.Squares(WholeModel.PieceGradients(r, mean, _model)));
        Assert.Equal(expected, squares.Sum(s => s.Squares), expected * 1e-9);
        var coefficient = UpdateRule.ClipCoefficient(Math.Sqrt(squares.Sum(s => s.Squares)), ClipNorm);
        Assert.True(coefficient < 1, $"the test means to clip, and the coefficient is {coefficient}");
        for (var s = 0; s < _plan.Shards; s++) _region.Tell(new ApplyShardStep(Shard(s), generation, step, coefficient, LearningRate));
        foreach (var r in _reference) r.Apply(WholeModel.PieceGradients(r, mean, _model), LearningRate, coefficient);
        var applied = Enumerable.Range(0, _plan.Shards).Select(_ => ExpectMsg<ShardApplied>(Wait)).Select(a => a.Shard.Index).Order();
        Assert.Equal(Enumerable.Range(0, _plan.Shards), applied);
    }

    private void Expect(long generation, long step)
    {
        for (var s = 0; s < _plan.Shards; s++) _region.Tell(new ExpectStep(Shard(s), generation, step, [_a.Id, _b.Id], GlobalBatch));
    }

    /// <summary>A whole step as workers and a coordinator run it, then worker a pulls its values and checks them.</summary>
    private void StepAndCheck(ShardLoaded[] shards, long generation, long step, Random random)
    {
        var (sumA, sumB) = (Gradients(random), Gradients(random));
        Expect(generation, step);
        foreach (var shard in shards)
        {
            Push(_a, generation, step, shard, sumA);
            Push(_b, generation, step, shard, sumB);
        }
        Commit(generation, step, Mean(sumA, sumB));
        foreach (var shard in shards)
        {
            AskToPull(_a, generation, step, shard);
            AssertClose(_reference[shard.Shard.Index], Receive(_a, generation, step, shard));
        }
    }

    private float[][] Gradients(Random random) => WholeModel.Gradients(random, _model);

    /// <summary>The mean over the global batch of the two workers' sums, as a shard makes it.</summary>
    private static float[][] Mean(float[][] a, float[][] b) =>
        [.. a.Zip(b, (x, y) =>
        {
            var sum = new float[x.Length];
            TensorPrimitives.Add(x, y, sum);
            TensorPrimitives.Multiply(sum, 1f / GlobalBatch, sum);
            return sum;
        })];

    private static void AssertClose(ShardOptimizer expected, float[][] pulled)
    {
        for (var piece = 0; piece < pulled.Length; piece++)
        {
            var worst = expected.Values(piece).Zip(pulled[piece], (e, a) => Math.Abs(e - a)).Max();
            Assert.True(worst <= 1e-6, $"piece {expected.Pieces[piece]} differs by {worst}");
        }
    }

    private ShardStatus Status(int shard)
    {
        _region.Tell(new GetShardStatus(Shard(shard)));
        return ExpectMsg<ShardStatus>(Wait);
    }

    [Fact]
    public void Shards_fed_over_the_data_plane_apply_what_shard_optimizers_driven_directly_apply()
    {
        var shards = Load(generation: 1);
        var random = new Random(31);
        for (var step = 1L; step <= 3; step++)
        {
            var (sumA, sumB) = (Gradients(random), Gradients(random));
            Expect(1, step);
            foreach (var shard in shards) Push(_a, 1, step, shard, sumA);
            foreach (var shard in shards) Push(_b, 1, step, shard, sumB);
            // Asked before the step is applied: the values come once it is.
            if (step == 3) foreach (var shard in shards) AskToPull(_b, 1, step, shard);
            Commit(1, step, Mean(sumA, sumB));
            foreach (var shard in shards)
            {
                if (step != 3) AskToPull(_a, 1, step, shard);
                AssertClose(_reference[shard.Shard.Index], Receive(step == 3 ? _b : _a, 1, step, shard));
            }
        }
        foreach (var status in Enumerable.Range(0, _plan.Shards).Select(Status))
            Assert.Equal((1L, 3L, 0L, 0L), (status.Generation, status.AppliedStep, status.DroppedStale, status.RepeatedPushes));
    }

    [Fact]
    public void The_shards_checkpoint_in_parts_loads_into_a_replica_and_into_shards_that_go_on_as_before()
    {
        var shards = Load(generation: 1);
        var random = new Random(43);
        for (var step = 1L; step <= 2; step++) StepAndCheck(shards, 1, step, random);

        // Each shard writes its part; the manifest lists them, as the coordinator makes it.
        var store = new CheckpointStore(_folder);
        var metadata = StateCheckpoint.Metadata(Spec, "hash", 2, world: 2, epoch: 0);
        var paths = Enumerable.Range(0, _plan.Shards).Select(s => store.PartPathFor(Job, 2, s, _plan.Shards)).ToList();
        var parts = new CheckpointParts(2, paths);
        for (var s = 0; s < _plan.Shards; s++) _region.Tell(new WriteShardCheckpoint(Shard(s), 1, 2, paths[s], metadata));
        foreach (var written in Enumerable.Range(0, _plan.Shards).Select(_ => ExpectMsg<ShardCheckpointWritten>(Wait)))
        {
            Assert.Equal(_plan.PiecesOf(written.Shard.Index).Select(p => p.ToString()), written.Parameters); // out.weight[0,50) and the like
            Assert.True(parts.Add(written.Path, written.Step, written.Sha256, written.Metadata, written.Parameters));
        }
        var checkpoint = parts.Commit(store, Job);
        Assert.Equal(store.ManifestPathFor(Job, 2), checkpoint.Path);
        var atCheckpoint = PieceState.Assemble(_plan, _reference.SelectMany(r => r.Export()));

        // An all-reduce replica restored from it holds what the shard optimizers driven directly hold, bit for bit.
        using (var replica = new Replica(Spec, "hash", CPU, bucketBytes: 0, Recipe))
        {
            replica.Restore(checkpoint);
            AssertSame(atCheckpoint, NamedState.FromSections(replica.ExportState()));
        }
        // So do shards of another plan, reading what their pieces need.
        var state = NamedState.FromSections(StateCheckpoint.Read(checkpoint, Job, "hash", null));
        var twoShards = ShardPlan.Balanced(_model, 2);
        var other = Enumerable.Range(0, 2).Select(s => new ShardOptimizer(twoShards.PiecesOf(s), state, Adamw, WeightDecay)).ToList();
        AssertSame(atCheckpoint, PieceState.Assemble(twoShards, other.SelectMany(o => o.Export())));
        other.ForEach(o => o.Dispose());

        StepAndCheck(shards, 1, 3, new Random(47));
        var afterStep3 = PieceState.Assemble(_plan, _reference.SelectMany(r => r.Export()));
        // The shards load the checkpoint in a new generation, as after a failure, and take step 3 again.
        foreach (var reference in _reference) reference.Dispose();
        _reference.Clear();
        _reference.AddRange(Enumerable.Range(0, _plan.Shards).Select(s => new ShardOptimizer(_plan.PiecesOf(s), state, Adamw, WeightDecay)));
        _a.Port.BeginGeneration(2);
        _b.Port.BeginGeneration(2);
        for (var s = 0; s < _plan.Shards; s++) _region.Tell(new LoadShard(Shard(s), 2, checkpoint));
        var reloaded = Enumerable.Range(0, _plan.Shards).Select(_ => ExpectMsg<ShardLoaded>(Wait)).OrderBy(l => l.Shard.Index).ToArray();
        Assert.All(reloaded, l => Assert.Equal(2, l.Step));
        StepAndCheck(reloaded, 2, 3, new Random(47));
        AssertSame(afterStep3, PieceState.Assemble(_plan, _reference.SelectMany(r => r.Export())));
    }

    [Fact]
    public void A_checkpoint_of_a_step_the_shard_does_not_hold_is_refused_and_nothing_is_written()
    {
        var shards = Load(generation: 1);
        StepAndCheck(shards, 1, 1, new Random(53));
        var path = Path.Combine(_folder, "part.ckpt");
        _region.Tell(new WriteShardCheckpoint(Shard(0), 1, 2, path, StateCheckpoint.Metadata(Spec, "hash", 2, world: 2, epoch: 0)));
        var refused = ExpectMsg<ShardStepFailed>(Wait);
        Assert.Equal((2L, 1L, $"shard {Shard(0)} holds step 1, not step 2 to checkpoint"), (refused.Step, refused.AppliedStep, refused.Reason));
        Assert.False(File.Exists(path));
    }

    /// <summary>
    /// A backup started without state (its node died, Sharding placed it anew) takes its shard's
    /// over the data plane: the two then write the same part, byte for byte (values, both moments,
    /// step counts). A copy of a step the shard does not hold is refused, and so is a copy sent to
    /// another data plane than the one the replica is on.
    /// </summary>
    [Fact]
    public void A_replica_without_state_takes_its_siblings_over_the_data_plane_byte_for_byte()
    {
        var shards = Load(generation: 1);
        var random = new Random(59);
        for (var step = 1L; step <= 2; step++) StepAndCheck(shards, 1, step, random);
        var backup = Shard(1).Sibling;
        _region.Tell(new GetShardStatus(backup));
        var empty = ExpectMsg<ShardStatus>(Wait);
        Assert.Equal(-1, empty.AppliedStep);

        _region.Tell(new CopyShardState(Shard(1), 2, 2, backup, empty.DataPlane));
        var offered = ExpectMsg<ShardStateOffered>(Wait);
        Assert.Equal((Shard(1), backup, 2L), (offered.Shard, offered.Target, offered.Step));
        Assert.All(offered.Layout, l => Assert.Equal("2: exp_avg exp_avg_sq", $"{l.Step}: {string.Join(' ', l.Slots)}"));
        // Addressed to the node the backup was on before a move: refused at once, holding nothing still.
        _region.Tell(new ReceiveShardState(backup, 2, 2, Shard(1), offered.Layout, "127.0.0.1:1"));
        Assert.Equal($"shard {backup} is on the data plane {empty.DataPlane}, not on 127.0.0.1:1 where its sibling sends its state: it moved after it answered",
            ExpectMsg<ShardStepFailed>(Wait).Reason);
        _region.Tell(new ReceiveShardState(backup, 2, 2, Shard(1), offered.Layout, empty.DataPlane));
        var loaded = ExpectMsg<ShardLoaded>(Wait);
        Assert.Equal((backup, 2L, 2L), (loaded.Shard, loaded.Generation, loaded.Step));

        var metadata = StateCheckpoint.Metadata(Spec, "hash", 2, world: 2, epoch: 0);
        var paths = new[] { Shard(1), backup }.ToDictionary(r => r, r => Path.Combine(_folder, $"{r.EntityId}.ckpt"));
        foreach (var (replica, path) in paths) _region.Tell(new WriteShardCheckpoint(replica, 2, 2, path, metadata));
        ExpectMsg<ShardCheckpointWritten>(Wait);
        ExpectMsg<ShardCheckpointWritten>(Wait);
        var (original, copy) = (CheckpointFile.Read(paths[Shard(1)]).Sections, CheckpointFile.Read(paths[backup]).Sections);
        Assert.Equal(original.Keys.Order(), copy.Keys.Order());
        Assert.All(original, section => Assert.True(section.Value.AsSpan().SequenceEqual(copy[section.Key]), $"{section.Key} differs"));

        _region.Tell(new CopyShardState(Shard(0), 2, 1, Shard(0).Sibling, empty.DataPlane));
        Assert.Equal($"shard {Shard(0)} holds step 2, not step 1 to copy", ExpectMsg<ShardStepFailed>(Wait).Reason);
    }

    /// <summary>
    /// A worker in the shard's own process asks for a step's values and leaves the generation before
    /// it reads them (its job aborted): the shard's thread waits for the reader. The next
    /// generation's copy must not wait behind it for the exchange timeout, since that worker joins
    /// the generation only once the copy is done: a newer generation closes the older one's links
    /// at once, and the sibling is offered the state in far less than the timeout (10 s here).
    /// </summary>
    [Fact]
    public void A_newer_generation_frees_a_shard_whose_worker_in_its_process_left_the_values_it_pulled_unread()
    {
        var shards = Load(generation: 1);
        StepAndCheck(shards, 1, 1, new Random(61));
        var worker = R("w/r2");
        var port = _node.Open(worker.ToString());
        _region.Tell(new PullShard(Shard(1), 1, 1, worker, _node.Address));
        port.Inbound(1, Shard(1).EntityId, DataChannel.ShardValues, Wait, CancellationToken.None); // the values wait on it, unread
        var backup = Shard(1).Sibling;

        _region.Tell(new GetShardStatus(backup));
        var target = ExpectMsg<ShardStatus>(Wait).DataPlane;

        _region.Tell(new CopyShardState(Shard(1), 2, 1, backup, target));
        var offered = ExpectMsg<ShardStateOffered>(TimeSpan.FromSeconds(3));
        Assert.Equal((Shard(1), 2L, 1L), (offered.Shard, offered.Generation, offered.Step));
    }

    private static void AssertSame(NamedState expected, NamedState actual)
    {
        Assert.Equal(expected.Names, actual.Names);
        Assert.All(expected.Names, n => Assert.True(expected[n].SameAs(actual[n]), $"{n} differs"));
    }

    [Fact]
    public void A_repeated_push_is_read_and_dropped_so_each_worker_counts_once_per_step()
    {
        var shards = Load(generation: 1);
        var random = new Random(37);
        var (sumA, sumB) = (Gradients(random), Gradients(random));
        Expect(1, 1);
        foreach (var shard in shards)
        {
            Push(_a, 1, 1, shard, sumA);
            Push(_a, 1, 1, shard, sumA); // a retry: frames and push again
            Push(_b, 1, 1, shard, sumB);
        }
        Commit(1, 1, Mean(sumA, sumB));
        // A retry that comes after the step was applied changes nothing either, and leaves the
        // worker's link in step: its next push is read as the next step's.
        foreach (var shard in shards) Push(_b, 1, 1, shard, sumB);
        StepAndCheck(shards, 1, 2, random);
        Assert.All(shards, shard => Assert.Equal(2, Status(shard.Shard.Index).RepeatedPushes));
    }

    [Fact]
    public void A_push_of_an_older_generation_is_refused_on_the_data_plane_and_dropped_by_the_shard()
    {
        var shards = Load(generation: 2);
        var random = new Random(41);
        var stale = Gradients(random);
        // The shard's endpoint is in generation 2: a link of generation 1 is refused at its hello.
        Assert.Throws<ExchangeFailedException>(() => Push(_a, 1, 1, shards[0], stale));
        _region.Tell(new PushGradients(shards[0].Shard, 1, 1, _a.Id, _a.Samples));
        Expect(1, 1);
        foreach (var shard in shards) _region.Tell(new PushGradients(shard.Shard, 1, 1, _b.Id, _b.Samples));

        StepAndCheck(shards, 2, 1, random);
        // Shard 0 dropped the stale push and plan; the others the plan and the push.
        Assert.All(Enumerable.Range(0, _plan.Shards), s => Assert.Equal(s == 0 ? 3 : 2, Status(s).DroppedStale));
    }
}
