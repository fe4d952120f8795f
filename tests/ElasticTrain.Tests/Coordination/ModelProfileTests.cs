using ElasticTrain.Coordination;
using ElasticTrain.Jobs;
using ElasticTrain.Models;
using static ElasticTrain.Tests.Support.TestRanks;

namespace ElasticTrain.Tests.Coordination;

/// <summary>The estimate the planner uses before anything is measured, checked against the models themselves.</summary>
public sealed class ModelProfileTests
{
    public static TheoryData<string> Specs => new() { "default-gpt", "tiny-gpt", "mlp" };

    private static ModelSpec SpecNamed(string name) => name switch
    {
        "default-gpt" => ModelSpec.DefaultGpt,
        "tiny-gpt" => ModelSpec.ForGpt(layers: 2, heads: 2, width: 16, block: 8),
        _ => ModelSpec.ForMlp(width: 16, block: 16),
    };

    [Theory]
    [MemberData(nameof(Specs))]
    public void State_bytes_are_sixteen_per_parameter_of_each_layer(string name)
    {
        var spec = SpecNamed(name);
        var profile = ModelProfile.Estimate(spec);
        Assert.Equal(spec.PipelineLayers, profile.Layers);
        Assert.Equal(spec.PipelineLayers, profile.StateBytes.Count);
        Assert.Equal(spec.PipelineLayers, profile.ActivationBytesPerSample.Count);
        for (int layer = 0; layer < spec.PipelineLayers; layer++)
        {
            using var stage = new ModelStage(spec, seed: 1, layer, layer + 1);
            var parameters = stage.parameters().Sum(p => p.numel());
            Assert.Equal(parameters * 16, profile.StateBytes[layer]);
        }
    }

    [Theory]
    [MemberData(nameof(Specs))]
    public void Costs_and_activations_are_positive_and_the_embeddings_cost_least(string name)
    {
        var profile = ModelProfile.Estimate(SpecNamed(name));
        Assert.All(profile.CostPerSample, c => Assert.True(c > 0));
        Assert.All(profile.ActivationBytesPerSample, a => Assert.True(a > 0));
        for (int layer = 1; layer < profile.Layers; layer++)
            Assert.True(profile.CostPerSample[layer] > profile.CostPerSample[0], $"layer {layer} costs no more than the embeddings");
    }

    [Fact]
    public void The_default_gpt_runs_plain_data_parallel_when_it_fits_and_in_stages_when_it_does_not()
    {
        var profile = ModelProfile.Estimate(ModelSpec.DefaultGpt);
        RankId[] ranks = [.. Enumerable.Range(0, 4).Select(i => R($"n{i / 2}/r{i % 2}"))];

        Assert.True(MeshPlanner.TryPlan(ranks, ranks.ToDictionary(r => r, _ => 16L << 30), profile, 16, MeshRequest.Auto, out var ample, out var refusal), refusal);
        Assert.Equal(1, ample.Stages);
        Assert.Equal(4, ample.Replicas);

        var wholeModel = profile.StateBytes.Sum();
        Assert.True(MeshPlanner.TryPlan(ranks, ranks.ToDictionary(r => r, _ => wholeModel - 1), profile, 16, MeshRequest.Auto, out var tight, out refusal), refusal);
        Assert.True(tight.Stages > 1, $"planned {tight}");
    }
}
