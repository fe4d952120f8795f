using ElasticTrain.Data;
using ElasticTrain.Jobs;
using ElasticTrain.Training;

namespace ElasticTrain.Cli.Hosting;

/// <summary>
/// A job's data on this node: the corpus, its windows, the windows held out for evaluation (none
/// unless the recipe evaluates), and the seeded epoch schedule over the others.
/// </summary>
public sealed record JobData(Corpus Corpus, WindowDataset Dataset, EpochSchedule Schedule, HeldOutSplit Split)
{
    public static JobData Load(string path, JobConfig job, string dataDirectory, TrainingRecipe? recipe)
    {
        var corpus = Corpus.Load(path, Path.Combine(dataDirectory, "corpus"));
        var dataset = new WindowDataset(corpus, job.Block + 1);
        var split = recipe is { HoldsOut: true } ? HeldOutSplit.Of(job.Seed, dataset.Count, recipe.EvalFraction) : HeldOutSplit.None(dataset.Count);
        // Nothing held out: the schedule over all windows, as every job before the split had.
        var schedule = split.Training is { } training
            ? new EpochSchedule(job.Seed, training, job.GlobalBatch)
            : new EpochSchedule(job.Seed, dataset.Count, job.GlobalBatch);
        return new JobData(corpus, dataset, schedule, split);
    }
}
