using ElasticTrain.Jobs;
using ElasticTrain.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static ElasticTrain.Tests.Models.TestTensors;

namespace ElasticTrain.Tests.Models;

/// <summary>
/// A stage is a piece of the whole model: the same parameters under the same names, the same
/// computation, and the same backward progress reports as those layers give inside the whole model.
/// </summary>
public class ModelStageTests
{
    private static readonly ModelSpec Gpt3 = ModelSpec.ForGpt(layers: 3, heads: 2, width: 32, block: 16);

    private static readonly IEqualityComparer<Parameter> ByReference = ReferenceEqualityComparer.Instance;

    public static TheoryData<string> Specs => new() { "gpt", "mlp" };

    private static ModelSpec SpecNamed(string name) => name == "gpt" ? Gpt3 : TinyMlp;

    [Theory]
    [MemberData(nameof(Specs))]
    public void Layers_list_the_whole_models_parameter_names_in_order_with_embeddings_and_output_as_layers(string name)
    {
        var spec = SpecNamed(name);
        using var model = ModelFactory.Create(spec, seed: 1);
        var layers = ((ILayeredModel)model).Layers;

        Assert.Equal(spec.PipelineLayers, layers.Count);
        string[] expected = name == "gpt" ? ["embedding", "blocks.0", "blocks.1", "blocks.2", "output"] : ["embedding", "hidden", "output"];
        Assert.Equal(expected, layers.Select(l => l.Name));
        Assert.Equal(model.named_parameters().Select(p => p.name), layers.SelectMany(l => l.ParameterNames));
        Assert.Equal(["tok.weight", "pos.weight"], layers[0].ParameterNames);
        Assert.Null(layers[0].InputWidth);
    }

    [Theory]
    [MemberData(nameof(Specs))]
    public void Each_stage_holds_exactly_its_layers_parameters_with_the_whole_models_names_and_values(string name)
    {
        var spec = SpecNamed(name);
        using var whole = ModelFactory.Create(spec, seed: 5);
        var wholeParameters = whole.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        var layerNames = ((ILayeredModel)whole).Layers.Select(l => l.ParameterNames).ToArray();

        for (int stages = 1; stages <= spec.PipelineLayers; stages++)
        {
            var partition = StagePartition.Balanced([.. Enumerable.Repeat(1.0, spec.PipelineLayers)], stages);
            var seen = new List<string>();
            for (int s = 0; s < stages; s++)
            {
                using var stage = new ModelStage(spec, seed: 5, partition.FirstLayer(s), partition.EndLayer(s));
                var named = stage.named_parameters().ToList();
                Assert.Equal(layerNames[partition.FirstLayer(s)..partition.EndLayer(s)].SelectMany(n => n), named.Select(p => p.name));
                foreach (var (parameterName, parameter) in named)
                    Assert.True(BitIdentical(parameter, wholeParameters[parameterName]), $"{parameterName} differs in stage {s} of {partition}");
                Assert.Equal(named.Select(p => p.name), stage.state_dict().Keys);
                seen.AddRange(named.Select(p => p.name));
            }
            Assert.Equal(whole.named_parameters().Select(p => p.name), seen);
        }
    }

    [Theory]
    [MemberData(nameof(Specs))]
    public void A_stage_of_every_layer_computes_the_whole_models_logits_bit_for_bit(string name)
    {
        var spec = SpecNamed(name);
        using var whole = ModelFactory.Create(spec, seed: 9);
        using var stage = new ModelStage(spec, seed: 9, 0, spec.PipelineLayers);
        using var scope = NewDisposeScope();
        var tokens = RandomTokens(seed: 3, batch: 3, time: 11);
        Assert.True(stage.IsLast);
        Assert.True(BitIdentical(whole.forward(tokens), stage.forward(tokens)));
    }

    [Fact]
    public void Later_stages_take_activations_of_the_width_the_stage_before_produces()
    {
        using var first = new ModelStage(TinyMlp, seed: 1, 0, 2);
        using var last = new ModelStage(TinyMlp, seed: 1, 2, 3);
        using var scope = NewDisposeScope();
        var tokens = RandomTokens(seed: 1, batch: 2, time: 5);
        var hidden = first.forward(tokens);

        Assert.Null(first.InputWidth);
        Assert.False(first.IsLast);
        Assert.Equal(4 * TinyMlp.Width, last.InputWidth);
        Assert.Equal(new long[] { 2, 5, 4 * TinyMlp.Width }, hidden.shape);
        Assert.Equal(new long[] { 2, 5, 256 }, last.forward(hidden).shape);

        Assert.Contains("activations", Assert.Throws<ArgumentException>(() => last.forward(tokens)).Message);
        Assert.Contains("token ids", Assert.Throws<ArgumentException>(() => first.forward(hidden)).Message);
        Assert.Contains("64 wide", Assert.Throws<ArgumentException>(() => last.forward(zeros(2, 5, TinyMlp.Width))).Message);
    }

    [Theory]
    [InlineData(-1, 1)]
    [InlineData(2, 2)]
    [InlineData(3, 2)]
    [InlineData(0, 6)]
    public void A_stage_outside_the_models_layers_or_without_one_is_rejected(int first, int end)
    {
        var e = Assert.Throws<ArgumentException>(() => new ModelStage(Gpt3, seed: 1, first, end));
        Assert.Contains("0 <= first < end <= 5", e.Message);
    }

    [Fact]
    public void A_stages_backward_groups_are_the_whole_models_for_its_layers()
    {
        using var whole = ModelFactory.Create(Gpt3, seed: 2);
        var wholeNames = whole.named_parameters().ToDictionary(p => p.parameter, p => p.name, ByReference);
        var wholeGroups = ((IReportsBackwardProgress)whole).BackwardStages()
            .Select(g => string.Join(",", g.Select(p => wholeNames[p]))).ToArray();

        var partition = new StagePartition(Gpt3.PipelineLayers, [0, 2, 4]);
        var stageGroups = new List<string>();
        // Backward runs the last stage first, so the whole model's groups are the stages' in reverse stage order.
        for (int s = partition.Stages - 1; s >= 0; s--)
        {
            using var stage = new ModelStage(Gpt3, seed: 2, partition.FirstLayer(s), partition.EndLayer(s));
            var names = stage.named_parameters().ToDictionary(p => p.parameter, p => p.name, ByReference);
            var groups = stage.BackwardStages();
            Assert.Equal(stage.parameters().Count(), groups.Sum(g => g.Count));
            stageGroups.AddRange(groups.Select(g => string.Join(",", g.Select(p => names[p]))));
        }
        Assert.Equal(wholeGroups, stageGroups);
    }

    [Fact]
    public void A_middle_stage_reports_each_group_with_its_final_gradients_in_order()
    {
        // Blocks 0 to 2 without embeddings or output: six groups, the last completing when backward returns.
        using var stage = new ModelStage(Gpt3, seed: 4, 1, 4);
        var groups = stage.BackwardStages();
        Assert.Equal(6, groups.Count);

        for (int pass = 0; pass < 2; pass++)
        {
            var seen = new List<(int Group, float[][] Gradients)>();
            stage.StageCompleted = g => seen.Add((g, groups[g].Select(p => p.grad!.data<float>().ToArray()).ToArray()));
            using (var scope = NewDisposeScope())
            {
                using var g = new Generator(7);
                var input = randn([2, 8, Gpt3.Width], generator: g).requires_grad_(true);
                stage.forward(input).square().mean().backward();
                Assert.NotNull(input.grad);
            }
            stage.StageCompleted = null;

            Assert.Equal(Enumerable.Range(0, groups.Count - 1), seen.Select(s => s.Group));
            foreach (var (group, gradients) in seen)
                for (int i = 0; i < gradients.Length; i++)
                    Assert.Equal(groups[group][i].grad!.data<float>().ToArray(), gradients[i]);
        }
    }
}
