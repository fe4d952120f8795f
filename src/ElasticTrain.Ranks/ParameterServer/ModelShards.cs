using ElasticTrain.Checkpointing;
using ElasticTrain.Jobs;
using ElasticTrain.Models;
using ElasticTrain.ParameterServer;
using ElasticTrain.Training;
using static TorchSharp.torch;

namespace ElasticTrain.Ranks.ParameterServer;

/// <summary>
/// A job's model as parameter shards see it: its parameters' shapes split into a plan, and its
/// state at step 0. Both come from the model the job's seed builds, so every node (workers and
/// shard hosts alike) computes the same plan and the same starting values on its own.
/// </summary>
public static class ModelShards
{
    /// <summary>The job's model's parameters, in the model's order, balanced by bytes over <paramref name="shards"/> shards.</summary>
    /// <exception cref="ArgumentException">More shards than the parameters fill; the message says how many they do.</exception>
    public static ShardPlan Plan(JobConfig job, int shards)
    {
        using var scope = NewDisposeScope();
        // Built on the CPU once per node; the values are thrown away, only the shapes count.
        using var model = ModelFactory.Create(Replica.SpecOf(job), job.Seed);
        var shapes = model.named_parameters()
            .Select(p => new ParameterShape(p.name, p.parameter.shape, (int)p.parameter.ElementSize))
            .ToList();
        return ShardPlan.Balanced(shapes, shards);
    }

    /// <summary>The whole model's state at step 0: the seed's values (what a replica starts from) and no optimizer slots yet.</summary>
    public static NamedState Seed(JobConfig job, string identityHash, TrainingRecipe recipe)
    {
        using var replica = new Replica(job, identityHash, CPU, bucketBytes: 0, recipe);
        return NamedState.FromSections(replica.ExportState());
    }
}
