using ElasticTrain.Data;
using ElasticTrain.Jobs;

namespace ElasticTrain.Cli.Hosting;

/// <summary>A job's data on this node: the corpus, its windows and the seeded epoch schedule.</summary>
public sealed record JobData(Corpus Corpus, WindowDataset Dataset, EpochSchedule Schedule)
{
    public static JobData Load(string path, JobConfig job, string dataDirectory)
    {
        var corpus = Corpus.Load(path, Path.Combine(dataDirectory, "corpus"));
        var dataset = new WindowDataset(corpus, job.Block + 1);
        return new JobData(corpus, dataset, new EpochSchedule(job.Seed, dataset.Count, job.GlobalBatch));
    }
}
