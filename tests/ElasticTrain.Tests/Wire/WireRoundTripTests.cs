using ElasticTrain.Ranks.Pipeline;
using Akka.Actor;
using Akka.TestKit.Xunit2;
using ElasticTrain.Configuration;
using ElasticTrain.Coordination;
using ElasticTrain.Jobs;
using ElasticTrain.Ranks;
using ElasticTrain.Ranks.ParameterServer;
using ElasticTrain.Wire;
using static ElasticTrain.Tests.Support.TestRanks;

namespace ElasticTrain.Tests.Wire;

public class WireRoundTripTests() : TestKit(HoconFiles.Reference(typeof(IWireMessage).Assembly))
{
    private static readonly JobConfig Job = new("j", "gpt", 1, 2, 32, 16, 8, 100, 1e-3, 0.01, 7, "/data", 10);
    private static readonly CheckpointRef Checkpoint = new(10, "/ckpt/step-10.ckpt", "abc123");

    private IEnumerable<object> Samples()
    {
        var endpoint = TestActor;
        var plan = new StepPlan(3, [new RankSlice(R("n/r0"), 0, 5), new RankSlice(R("n/r1"), 5, 3, 1)]);
        var mesh = new MeshLayout(6, [0, 2, 4], [[R("n/r0"), R("n/r1"), R("n/r2")], [R("m/r0"), R("m/r1"), R("m/r2")]], 8, ElasticTrain.Pipeline.ScheduleKind.GPipe);
        yield return mesh;
        yield return new RegisterRank(R("n/r0"), endpoint, 7, "10.0.0.1:4712", new LayerRange(2, 4), 1L << 30);
        yield return new PrepareRank(2, [new RankEndpoint(R("n/r0"), endpoint, "10.0.0.1:4712")], MeshLayout.DataParallel(6, [R("n/r0")]),
            [new LayerSource(new LayerRange(0, 6), new LoadCheckpoint(Checkpoint))], 10, []);
        yield return new PrepareRank(3, [new RankEndpoint(R("n/r0"), endpoint, "10.0.0.1:4712")], mesh,
            [new LayerSource(new LayerRange(0, 1), new KeepState()), new LayerSource(new LayerRange(1, 2), new CopyFromPeer(R("n/r1")))], 12,
            [new StateSend(R("n/r2"), new LayerRange(0, 1))], ResidualsFrom: [R("n/r3")]);
        yield return new LayerSource(new LayerRange(0, 2), new InitFromSeed());
        yield return new StateSend(R("n/r2"), new LayerRange(0, 1));
        yield return new ServeTarget(new RankEndpoint(R("n/r0"), endpoint, "10.0.0.1:4712"), new LayerRange(2, 4));
        yield return new KeepState();
        yield return new InitFromSeed();
        yield return new LoadCheckpoint(Checkpoint);
        yield return new CopyFromPeer(R("n/r1"));
        yield return new StateChunk(3, 12, R("n/r1"), 0, 2, [1, 2, 3]);
        yield return new StateChunk(3, 12, R("n/r1"), 1, 2, [4], Residuals: true);
        yield return new HandOffResiduals(3, 12, new RankEndpoint(R("n/r0"), endpoint, "10.0.0.1:4712"), new JobOver("j", 3, true, "drained"));
        yield return new HandOffResiduals(3, 12, new RankEndpoint(R("n/r0"), endpoint, "10.0.0.1:4712"), null);
        yield return new ApplyStep(2, 3);
        yield return new ApplyStep(2, 4, PeerCopy: true);
        yield return new PeerCopyChunk(2, 4, R("n/r1"), new LayerRange(2, 4), 0, 1, [9, 8]);
        yield return new CopyHeld(2, 4, R("n/r0"), new LayerRange(2, 4));
        yield return new CopiesComplete(2, 4);
        yield return new ServeState(4, 12, [new ServeTarget(new RankEndpoint(R("n/r0"), endpoint, "10.0.0.1:4712"), new LayerRange(0, 6))]);
        yield return new JobOver("j", 4, false, "no ranks left");
        yield return GetJob.Instance;
        yield return new GradientOverflowed(12, 32768);
        yield return new JobSnapshot(JobState.Empty.Updated(new JobStarted(Job, "hash", "fp")), [12, 40]);
        yield return new JobDescription(Job, "hash", "fingerprint", new MeshRequest(2, 8, ElasticTrain.Pipeline.ScheduleKind.GPipe, 64L << 20, 3),
            new ElasticTrain.Training.TrainingRecipe(new(ElasticTrain.Training.OptimizerKind.Lamb, DecayBiasesAndNorms: false),
                new(ElasticTrain.Training.ScheduleShape.Cosine, WarmupSteps: 10, MinLr: 3e-5, DecaySteps: 300), ClipNorm: 1.0, MicroBatchSize: 4,
                Precision: ElasticTrain.Training.Precision.Fp16, LossScale: new(), EvalEvery: 25, EvalFraction: 0.02, Dropout: 0.1,
                Compression: ElasticTrain.Training.CompressionSettings.Parse("powersgd:4")));
        yield return new JobDescription(Job, "hash", "fingerprint", MeshRequest.Auto, ElasticTrain.Training.TrainingRecipe.Default with
        {
            ParameterServer = new(4, ElasticTrain.ParameterServer.Consistency.Ssp, 2, 0.04, "server"),
        }, SecretCheck: "00112233445566778899AABBCCDDEEFF");
        yield return new JobDescription(Job, "hash", "fingerprint", MeshRequest.Auto, ElasticTrain.Training.TrainingRecipe.Default with
        {
            Compression = ElasticTrain.Training.CompressionSettings.Parse("topk:0.01"),
            Moments = new(DenseSteps: 30, Every: 50),
        });
        yield return MeshRequest.Auto;
        yield return GetStatus.Instance;
        yield return AreShardsSettled.Instance;
        yield return new ShardsSettled(true);
        yield return new JobStatusReport("j", 40, 100, 3, [R("a:1/r0"), R("b:2/r0")], [R("b:2/r1")], [], 2, 123.5);
        yield return new JobStatusReport("j", 40, 100, 3, [R("a:1/r0")], [], [], 0, 1.5, "1x1", [new RankLoad(R("a:1/r0"), 8, 42.5)]);
        var place = new ShardPlace(new ElasticTrain.ParameterServer.ShardId("j", 1, backup: true), "10.0.0.2:4053", 4096, 7.5);
        yield return place;
        yield return new JobStatusReport("j", 40, 100, 3, [R("a:1/r0")], [], [], 0, 1.5, "1x1", [new RankLoad(R("a:1/r0"), 8, 42.5)], [place]);
        yield return new RankLoad(R("a:1/r0"), 8, 42.5, Stage: 1);
        var step = new StepNews(12, 2.5, 2, 3, 1_700_000_000_000, 210.5, 12, 180.25, 4.5, 1 << 20);
        var generation = new MarkedGeneration(3, 11, 2, "2x1", [R("a:1/r0"), R("b:2/r0")], "+ b:2 (1 rank)");
        yield return step;
        yield return new GenerationNews("j", 3, 11, 100, "2x1", [R("a:1/r0"), R("b:2/r0")], 10, [R("b:2/r1")]);
        yield return new EvaluationNews(10, 2.75);
        yield return new CheckpointNews(10, "/ckpt/step-10.ckpt");
        yield return new JobEndNews("finished at step 100", Failed: false);
        yield return JobHistoryWanted.Instance;
        yield return generation;
        yield return new JobHistory("j", 100, [step], [generation], [new EvaluationNews(10, 2.75)], [new CheckpointNews(10, "/c")], null);
        yield return new DrainNode(new NodeAddress("127.0.0.1", 4053));
        yield return new ScaleRanks(3);
        yield return R("n:4/r2");
        yield return new NodeAddress("10.0.0.3", 4053);
        yield return new OperatorReply(true, "draining 2 rank(s)");
        yield return new RunStep(2, plan, null);
        yield return new WriteCheckpoint(2, 10, "/ckpt/x", 3);
        yield return GetRankStatus.Instance;
        yield return new RankReady(2, R("n/r0"), 9);
        yield return new StepExchanged(2, 3, R("n/r0"), 12.5, [4, 8, 15, 16, 23], 100.25, 3.5, 0.75);
        yield return new StepFailed(2, 3, R("n/r0"), "peer gone");
        yield return new StepFailed(2, 3, R("n/r0"), "asked for step 3", StateStep: 2);
        yield return new EvaluateHeldOut(2, 30, 7, 7);
        yield return new HeldOutEvaluated(2, 30, R("n/r1"), 14.25, 7, 3.5);
        yield return new CheckpointWritten(2, 10, "/ckpt/x", "ff00", new ElasticTrain.Checkpointing.CheckpointMetadata("j", 10, "hash", 80, 1, 7, 4, 1234), ["blocks.0.ln1.weight"]);
        yield return new CheckpointFailed(2, 10, "disk full");
        yield return new RankStatus(R("n/r0"), 2, 4);
        yield return new RankStatus(R("n/r0"), 2, 4, ResidualTotal: -1.25);
        yield return Checkpoint;
        yield return new RankEndpoint(R("n/r1"), endpoint, "10.0.0.2:4712");
        yield return plan;
        yield return plan.Slices[0];
        yield return Job;
        yield return new JobStarted(Job, "hash", "fingerprint");
        yield return new GenerationStarted(4, ["n/r0", "n/r1"]);
        yield return new StepCommitted(3, 5.25, 4, 2);
        yield return new StepSampled(3, [new RankSamples(R("n/r0"), [4, 9]), new RankSamples(R("n/r1"), [1])]);
        yield return new RankSamples(R("n/r0"), [4, 9]);
        yield return new CheckpointTaken(Checkpoint);
        yield return new JobCompleted(100);
        var shard = new ElasticTrain.ParameterServer.ShardId("j", 2);
        yield return new LoadShard(shard, 3, Checkpoint);
        yield return new LoadShard(shard, 3, null); // from the seed
        PieceLayout[] layout = [new PieceLayout(11, ["exp_avg", "exp_avg_sq"]), new PieceLayout(0, [])];
        yield return layout[0];
        yield return new CopyShardState(shard, 3, 11, shard.Sibling, "10.0.0.2:4712");
        yield return new ReceiveShardState(shard.Sibling, 3, 11, shard, layout, "10.0.0.2:4712");
        yield return new ShardStateOffered(shard, 3, 11, shard.Sibling, layout);
        yield return new ShardAddress(shard, "10.0.0.2:4712");
        yield return new PullShards([new ShardAddress(shard, "10.0.0.2:4712")]);
        yield return new ExpectStep(shard, 3, 11, [R("n/r0"), R("n/r1")], 8);
        yield return new PushGradients(shard, 3, 11, R("n/r1"), 5);
        yield return new ApplyShardStep(shard, 3, 11, 0.25, 3e-4);
        yield return new MeasureShardUpdate(shard, 3, 11, 0.25);
        yield return new TrustRatio("fc1.weight", 1.25);
        yield return new TensorNorms("fc1.weight", 2.5, 0.75);
        yield return new ApplyShardStep(shard, 3, 11, 0.25, 3e-4, [new TrustRatio("fc1.weight", 1.25), new TrustRatio("fc1.bias", 1)]);
        yield return new PullShard(shard, 3, 11, R("n/r0"), "10.0.0.1:4712");
        yield return new GetShardStatus(shard);
        var metadata = new ElasticTrain.Checkpointing.CheckpointMetadata("j", 10, "hash", 80, 1, 7, 4, 1234);
        yield return new WriteShardCheckpoint(shard, 3, 10, "/ckpt/step-10.part-3-of-4.ckpt", metadata);
        yield return new ShardCheckpointWritten(shard, 3, 10, "/ckpt/step-10.part-3-of-4.ckpt", "ff00", metadata, ["fc1.weight[22,39)", "fc1.bias"]);
        yield return new ShardLoaded(shard, 3, 10, "10.0.0.2:4712");
        yield return new ShardSquares(shard, 3, 11, 1.5);
        yield return new ShardUpdateNorms(shard, 3, 11, [new TensorNorms("fc1.weight", 2.5, 0.75)]);
        yield return new ShardApplied(shard, 3, 11);
        yield return new ShardStepFailed(shard, 3, 11, "no slice from n:1/r1 within 10 s", 10);
        yield return new ShardStatus(shard, 3, 10, "10.0.0.2:4712", 2, 1, "10.0.0.2:4053");
        yield return JobState.Empty.Updated(new JobStarted(Job, "hash", "fp")).Updated(new StepCommitted(1, 5.5, 1, 2))
            .Updated(new CheckpointTaken(Checkpoint));
    }

    [Fact]
    public void Every_wire_message_round_trips_through_its_bound_serializer()
    {
        foreach (var message in Samples())
        {
            var serializer = Sys.Serialization.FindSerializerFor(message);
            Assert.True(serializer is WireSerializer, $"{message.GetType().Name} bound to {serializer.GetType().Name}");
            var bytes = serializer.ToBinary(message);
            var back = serializer.FromBinary(bytes, message.GetType());
            Assert.IsType(message.GetType(), back);
            // Records holding arrays compare by reference, so compare what they serialize to.
            Assert.Equal(bytes, serializer.ToBinary(back));
        }
    }

    [Fact]
    public void Actor_references_resolve_on_the_way_back()
    {
        var serializer = Sys.Serialization.FindSerializerFor(new RegisterRank(R("r"), TestActor, 0, "h:1", null, 1));
        var back = (RegisterRank)serializer.FromBinary(serializer.ToBinary(new RegisterRank(R("r"), TestActor, 0, "h:1", null, 1)), typeof(RegisterRank));
        Assert.Equal(TestActor, back.Endpoint);
        back.Endpoint.Tell("ping");
        ExpectMsg("ping");
    }

    [Fact]
    public void Every_wire_message_type_has_a_sample_here()
    {
        var assemblies = new[] { typeof(IWireMessage), typeof(RankReady), typeof(JobStarted) }.Select(t => t.Assembly).Distinct();
        var wireTypes = assemblies.SelectMany(a => a.GetTypes())
            .Where(t => typeof(IWireMessage).IsAssignableFrom(t) && t is { IsInterface: false, IsAbstract: false }).ToHashSet();
        var sampled = Samples().Select(m => m.GetType()).ToHashSet();
        Assert.Empty(wireTypes.Except(sampled).Select(t => t.Name));
    }

    [Fact]
    public void Types_from_other_assemblies_are_refused()
    {
        var serializer = Sys.Serialization.FindSerializerFor(new JobCompleted(1));
        object[] foreign = [new FactAttribute { Skip = "x" }, new List<FactAttribute>(), new Dictionary<string, FactAttribute[]>()];
        foreach (var value in foreign)
        {
            // Hyperion applies the filter on the way out as well as on the way in.
            var error = Assert.ThrowsAny<Exception>(() => serializer.FromBinary(serializer.ToBinary(value), value.GetType()));
            Assert.Contains("Unsafe Type", error.ToString());
        }
        // Bytes from elsewhere that name a foreign type (written here by an unfiltered Hyperion).
        var unfiltered = new Hyperion.Serializer(new Hyperion.SerializerOptions(versionTolerance: true, preserveObjectReferences: true, surrogates: null, serializerFactories: null, knownTypes: null, ignoreISerializable: true, packageNameOverrides: null, disallowUnsafeTypes: false, typeFilter: Hyperion.DisabledTypeFilter.Instance));
        using var forged = new MemoryStream();
        unfiltered.Serialize(new FactAttribute { Skip = "x" }, forged);
        Assert.Contains("Unsafe Type", Assert.ThrowsAny<Exception>(() => serializer.FromBinary(forged.ToArray(), typeof(object))).ToString());
        object[] admitted = [new List<string> { "a" }, new Dictionary<string, long[]> { ["k"] = [1] }, Array.Empty<RankSlice>()];
        foreach (var value in admitted)
            Assert.IsType(value.GetType(), serializer.FromBinary(serializer.ToBinary(value), value.GetType()));
    }
}
