using Akka.Actor;
using Akka.TestKit.Xunit2;
using ElasticTrain.Collectives.Transport;
using ElasticTrain.Data;
using ElasticTrain.Jobs;
using ElasticTrain.Ranks;
using static ElasticTrain.Tests.Support.TestRanks;

namespace ElasticTrain.Tests.Ranks;

public class RankTests : TestKit
{
    // Ranks register with the coordinator (here the test actor) at start and every few seconds.
    public RankTests() => IgnoreMessages<RegisterRank>();

    // Every rank of the test lives in this one process, so their exchanges run on shared memory.
    private TensorTransport Transport { get; } = new("127.0.0.1", System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (disposing) Transport.Dispose();
    }

    private static readonly JobConfig Job = new("rank-test", "mlp", 1, 1, 16, 8, GlobalBatch: 4, Steps: 10, 1e-3, 0, 1, "", 5);

    private IActorRef StartRank(string name = "n/r0")
    {
        var dataset = new WindowDataset(Corpus.Load(TinyCorpus.Path_), Job.Block + 1);
        var schedule = new EpochSchedule(Job.Seed, dataset.Count, Job.GlobalBatch);
        var loader = Sys.ActorOf(DataLoader.Props(dataset, schedule));
        var rank = Sys.ActorOf(Rank.Props(new Rank.Setup(R(name), 0, Job, "hash", "cpu",
            new ExchangeSettings("ring", TimeSpan.FromSeconds(5), BucketBytes: 0), Transport.Open(R(name).ToString()), TestActor, loader, schedule)));
        return rank;
    }

    /// <summary>Data parallelism over <paramref name="members"/>: every rank holds the whole model.</summary>
    private static PrepareRank Prepare(long generation, RankEndpoint[] members, StateOrigin origin, long stateStep, RankId[] sendTo)
    {
        var layers = new LayerRange(0, Replica.SpecOf(Job).PipelineLayers);
        return new PrepareRank(generation, members, ElasticTrain.Ranks.Pipeline.MeshLayout.DataParallel(layers.End, members.Select(m => m.Rank)),
            [new LayerSource(layers, origin)], stateStep, [.. sendTo.Select(t => new StateSend(t, layers))]);
    }

    private static StepPlan Whole(long step) => new(step, [new RankSlice(R("n/r0"), 0, Job.GlobalBatch)]);

    [Fact]
    public void Messages_of_another_generation_are_dropped_and_counted()
    {
        var rank = StartRank();
        rank.Tell(Prepare(2, [new RankEndpoint(R("n/r0"), rank, Transport.Address)], new InitFromSeed(), 0, []));
        ExpectMsg<RankReady>(TimeSpan.FromSeconds(30));

        rank.Tell(new RunStep(1, Whole(1), null));                 // the old generation's step
        rank.Tell(new WriteCheckpoint(1, 1, "/nonexistent/x", 1));   // and its checkpoint request
        rank.Tell(Prepare(1, [new RankEndpoint(R("n/r0"), rank, Transport.Address)], new InitFromSeed(), 0, []));
        ExpectNoMsg(TimeSpan.FromMilliseconds(300));

        rank.Tell(GetRankStatus.Instance);
        var status = ExpectMsg<RankStatus>();
        Assert.Equal((2L, 3L), (status.Generation, status.DroppedStale));
    }

    [Fact]
    public void A_step_is_exchanged_then_applied_only_when_committed()
    {
        var rank = StartRank();
        rank.Tell(Prepare(1, [new RankEndpoint(R("n/r0"), rank, Transport.Address)], new InitFromSeed(), 0, []));
        Assert.Equal(0, ExpectMsg<RankReady>(TimeSpan.FromSeconds(30)).StateStep);
        rank.Tell(new RunStep(1, Whole(1), Whole(2)));
        var done = ExpectMsg<StepExchanged>(TimeSpan.FromSeconds(30));
        Assert.Equal((1L, 1L, 4), (done.Generation, done.Step, done.Samples));
        // Four samples of a byte-level model at init: about ln(256) = 5.55 each.
        Assert.InRange(done.LossSum / 4, 4.5, 6.5);

        // Not committed: a new generation finds the replica still at step 0 and keeps that.
        rank.Tell(Prepare(2, [new RankEndpoint(R("n/r0"), rank, Transport.Address)], new KeepState(), 0, []));
        Assert.Equal(0, ExpectMsg<RankReady>(TimeSpan.FromSeconds(30)).StateStep);
        rank.Tell(new RunStep(2, Whole(1), null));
        ExpectMsg<StepExchanged>(TimeSpan.FromSeconds(30));
        rank.Tell(new ApplyStep(2, 1));
        rank.Tell(Prepare(3, [new RankEndpoint(R("n/r0"), rank, Transport.Address)], new KeepState(), 1, []));
        Assert.Equal(1, ExpectMsg<RankReady>(TimeSpan.FromSeconds(30)).StateStep);
    }

    [Fact]
    public void A_joiner_copies_the_state_of_a_live_peer_in_chunks()
    {
        var source = StartRank();
        var joiner = StartRank("n/r1");
        var members = new[] { new RankEndpoint(R("n/r0"), source, Transport.Address), new RankEndpoint(R("n/r1"), joiner, Transport.Address) };
        source.Tell(Prepare(1, [members[0]], new InitFromSeed(), 0, []));
        ExpectMsg<RankReady>(TimeSpan.FromSeconds(30));
        source.Tell(new RunStep(1, Whole(1), null));
        ExpectMsg<StepExchanged>(TimeSpan.FromSeconds(30));
        source.Tell(new ApplyStep(1, 1));

        joiner.Tell(Prepare(2, members, new CopyFromPeer(R("n/r0")), 1, []));
        source.Tell(Prepare(2, members, new KeepState(), 1, [R("n/r1")]));
        var ready = new[] { ExpectMsg<RankReady>(TimeSpan.FromSeconds(30)), ExpectMsg<RankReady>(TimeSpan.FromSeconds(30)) };
        Assert.All(ready, r => Assert.Equal(1, r.StateStep));

        // Same state: the same step 2 computed alone on each gives the same loss.
        var plan = new StepPlan(2, [new RankSlice(R("n/r0"), 0, Job.GlobalBatch)]);
        source.Tell(new RunStep(2, plan, null));
        var a = ExpectMsg<StepExchanged>(TimeSpan.FromSeconds(30));
        joiner.Tell(Prepare(3, [members[1]], new KeepState(), 1, []));
        ExpectMsg<RankReady>(TimeSpan.FromSeconds(30));
        joiner.Tell(new RunStep(3, new StepPlan(2, [new RankSlice(R("n/r1"), 0, Job.GlobalBatch)]), null));
        var b = ExpectMsg<StepExchanged>(TimeSpan.FromSeconds(30));
        Assert.Equal(a.LossSum, b.LossSum, 1e-6);
    }
}
