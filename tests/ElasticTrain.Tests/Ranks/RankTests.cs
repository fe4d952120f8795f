using Akka.Actor;
using Akka.TestKit.Xunit2;
using ElasticTrain.Data;
using ElasticTrain.Jobs;
using ElasticTrain.Ranks;

namespace ElasticTrain.Tests.Ranks;

public class RankTests : TestKit
{
    private static readonly JobConfig Job = new("rank-test", "mlp", 1, 1, 16, 8, GlobalBatch: 4, Steps: 10, 1e-3, 0, 1, "", 5);

    private IActorRef StartRank()
    {
        var dataset = new WindowDataset(Corpus.Load(TinyCorpus.Path_), Job.Block + 1);
        var schedule = new EpochSchedule(Job.Seed, dataset.Count, Job.GlobalBatch);
        var loader = Sys.ActorOf(DataLoader.Props(dataset, schedule));
        var rank = Sys.ActorOf(Rank.Props(new Rank.Setup("n/r0", 0, Job, "hash", "cpu", "ring", TimeSpan.FromSeconds(5), TestActor, loader, schedule)));
        ExpectMsg<RegisterRank>(r => r.Rank == "n/r0");
        return rank;
    }

    private static StepPlan Whole(long step) => new(step, [new RankSlice("n/r0", 0, Job.GlobalBatch)]);

    [Fact]
    public void Messages_of_another_generation_are_dropped_and_counted()
    {
        var rank = StartRank();
        rank.Tell(new PrepareRank(2, [new RankEndpoint("n/r0", rank)], null));
        ExpectMsg<RankReady>(TimeSpan.FromSeconds(30));

        rank.Tell(new RunStep(1, Whole(1), null));                 // the old generation's step
        rank.Tell(new WriteCheckpoint(1, 1, "/nonexistent/x", 1));   // and its checkpoint request
        rank.Tell(new PrepareRank(1, [new RankEndpoint("n/r0", rank)], null));
        ExpectNoMsg(TimeSpan.FromMilliseconds(300));

        rank.Tell(GetRankStatus.Instance);
        var status = ExpectMsg<RankStatus>();
        Assert.Equal((2L, 3L), (status.Generation, status.DroppedStale));
    }

    [Fact]
    public void A_step_of_the_current_generation_is_computed_and_reported()
    {
        var rank = StartRank();
        rank.Tell(new PrepareRank(1, [new RankEndpoint("n/r0", rank)], null));
        ExpectMsg<RankReady>(TimeSpan.FromSeconds(30));
        rank.Tell(new RunStep(1, Whole(1), Whole(2)));
        var done = ExpectMsg<StepDone>(TimeSpan.FromSeconds(30));
        Assert.Equal((1L, 1L, 4), (done.Generation, done.Step, done.Samples));
        // Four samples of a byte-level model at init: about ln(256) = 5.55 each.
        Assert.InRange(done.LossSum / 4, 4.5, 6.5);
    }
}
