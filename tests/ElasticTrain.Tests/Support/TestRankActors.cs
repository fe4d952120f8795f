using Akka.Actor;
using ElasticTrain.Collectives.Transport;
using ElasticTrain.Data;
using ElasticTrain.Jobs;
using ElasticTrain.Ranks;
using ElasticTrain.Training;
using static ElasticTrain.Tests.Support.TestRanks;

namespace ElasticTrain.Tests.Support;

/// <summary>Rank actors on the tiny corpus, whose coordinator is the test: as RankMeshTests and RankResidualTests drive them.</summary>
public static class TestRankActors
{
    public static RankEndpoint Start(ActorSystem system, IActorRef coordinator, TensorTransport transport, JobConfig job, string name,
        long bucketBytes = 0, TrainingRecipe? recipe = null)
    {
        var dataset = new WindowDataset(Corpus.Load(TinyCorpus.Path_), job.Block + 1);
        var schedule = new EpochSchedule(job.Seed, dataset.Count, job.GlobalBatch);
        var loader = system.ActorOf(DataLoader.Props(dataset, schedule));
        var rank = system.ActorOf(Rank.Props(new Rank.Setup(R(name), 0, job, "hash", "cpu",
            new ExchangeSettings("ring", TimeSpan.FromSeconds(10), bucketBytes), transport.Open(R(name).ToString()), coordinator, loader, schedule,
            Recipe: recipe)));
        return new RankEndpoint(R(name), rank, transport.Address);
    }
}
