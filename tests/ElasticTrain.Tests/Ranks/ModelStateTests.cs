using ElasticTrain.Ranks.Optimization;
using ElasticTrain.Training;
using ElasticTrain.Checkpointing;
using ElasticTrain.Jobs;
using ElasticTrain.Models;
using ElasticTrain.Ranks;
using ElasticTrain.Tests.Support;
using TorchSharp;

namespace ElasticTrain.Tests.Ranks;

/// <summary>
/// Parameters and AdamW state move between models by name: a whole model's state makes a fresh
/// replica continue bit for bit, any subset loads into whatever holds those names (a pipeline
/// stage), and what does not fit is refused with the parameter named.
/// </summary>
[Collection(nameof(TorchThreadsCollection))]
public class ModelStateTests
{
    // A learning rate large enough that AdamW's bias correction visibly moves the parameters.
    private static readonly JobConfig Job = new("named-state", "gpt", Layers: 2, Heads: 2, Width: 8, Block: 4,
        GlobalBatch: 4, Steps: 10, LearningRate: 1e-2, WeightDecay: 0.01, Seed: 7, DataPath: "", CheckpointEvery: 100);

    private static Replica NewReplica(JobConfig? job = null) => new(job ?? Job, "hash", torch.CPU, bucketBytes: 0);

    /// <summary>A replica after three steps, and its exported state.</summary>
    private static (Replica Replica, IReadOnlyDictionary<string, byte[]> State) Trained()
    {
        var replica = NewReplica();
        SoloTraining.Steps(replica, Job, 1, 3);
        return (replica, replica.ExportState());
    }

    [Fact]
    public void A_fresh_replica_given_the_exported_state_takes_the_next_step_bit_for_bit_as_the_source()
    {
        var (source, state) = Trained();
        using var _ = source;
        using var copy = NewReplica();
        copy.ImportState(state, 3);
        Assert.Equal(source.ParameterValues(), copy.ParameterValues());

        SoloTraining.Steps(source, Job, 4, 4);
        SoloTraining.Steps(copy, Job, 4, 4);
        Assert.Equal(source.ParameterValues(), copy.ParameterValues());
    }

    [Fact]
    public void The_optimizers_step_count_travels_with_the_state_and_a_reset_one_would_change_the_next_step()
    {
        var (source, state) = Trained();
        using var _ = source;
        var named = NamedState.FromSections(state);
        Assert.All(named.Names, name => Assert.Equal(3, named[name].Step));

        // The same moments with the count reset: AdamW's bias correction then differs, and so does step 4.
        var reset = new NamedState(named.Names.Select(n => named[n] with { Step = 0 })).ToSections();
        using var restarted = NewReplica();
        restarted.ImportState(reset, 3);
        Assert.Equal(source.ParameterValues(), restarted.ParameterValues());
        SoloTraining.Steps(source, Job, 4, 4);
        SoloTraining.Steps(restarted, Job, 4, 4);
        Assert.NotEqual(source.ParameterValues(), restarted.ParameterValues());
    }

    [Fact]
    public void A_subset_exported_in_any_order_loads_into_the_stage_that_holds_those_names()
    {
        var (source, _) = Trained();
        using var __ = source;
        var spec = Replica.SpecOf(Job);
        // Layers: embedding, blocks.0, blocks.1, output; the stage [2, 3) holds blocks.1 alone.
        using var stage = new ModelStage(spec, Job.Seed, 2, 3);
        using var optimizer = PartOptimizer.Create(OptimizerSettings.Default, Job.WeightDecay, [.. stage.parameters()]);
        var names = stage.named_parameters().Select(p => p.name).ToList();
        Assert.All(names, n => Assert.StartsWith("blocks.1.", n));
        Assert.Equal(names.Order(), source.ParameterNames.Where(n => n.StartsWith("blocks.1.", StringComparison.Ordinal)).Order());

        var subset = NamedState.FromSections(source.ExportState(Enumerable.Reverse(names)));
        Assert.Equal(names.Order(StringComparer.Ordinal), subset.Names);
        ModelState.Import(stage, optimizer, subset);

        var loaded = ModelState.Export(stage, optimizer);
        Assert.All(names, n => Assert.True(loaded[n].SameAs(subset[n]), $"{n} differs after the import"));
    }

    [Fact]
    public void A_state_that_lacks_a_parameter_of_the_model_is_refused_with_its_name_and_the_model_is_left_as_it_was()
    {
        var (source, _) = Trained();
        using var __ = source;
        using var target = NewReplica();
        var before = target.ParameterValues();
        var onlyBlock1 = source.ExportState(source.ParameterNames.Where(n => n.StartsWith("blocks.1.", StringComparison.Ordinal)));

        var refused = Assert.Throws<CheckpointException>(() => target.ImportState(onlyBlock1, 3));
        Assert.Contains("no parameter 'tok.weight'", refused.Message);
        Assert.Equal(before, target.ParameterValues());
    }

    [Fact]
    public void A_parameter_of_another_shape_is_refused_with_its_name_and_both_shapes()
    {
        using var narrow = NewReplica();
        using var wide = NewReplica(Job with { Width = 16 });
        var refused = Assert.Throws<CheckpointException>(() => wide.ImportState(narrow.ExportState(), 0));
        Assert.Equal("parameter 'tok.weight': the state's values are Float32 [256, 8], the model's parameter is Float32 [256, 16]", refused.Message);
    }

    [Fact]
    public void Exporting_a_name_the_model_does_not_hold_is_refused_with_the_name()
    {
        using var replica = NewReplica();
        var refused = Assert.Throws<CheckpointException>(() => replica.ExportState(["blocks.9.qkv.weight"]));
        Assert.Contains("'blocks.9.qkv.weight'", refused.Message);
    }
}
