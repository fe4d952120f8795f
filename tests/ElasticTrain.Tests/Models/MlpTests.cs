using ElasticTrain.Models;
using TorchSharp;
using static TorchSharp.torch;
using static ElasticTrain.Tests.Models.TestTensors;

namespace ElasticTrain.Tests.Models;

public class MlpTests
{
    [Fact]
    public void Mlp_has_embeddings_and_a_two_layer_head_of_the_expected_size()
    {
        var spec = ModelSpec.ForMlp(width: 16, block: 8);
        using var model = ModelFactory.Create(spec, seed: 1);
        Assert.IsType<Mlp>(model);
        long w = 16, v = 256, block = 8;
        Assert.Equal(v * w + block * w + (w * 4 * w + 4 * w) + (4 * w * v + v), ModelFactory.CountParameters(model));
    }

    [Fact]
    public void Mlp_has_the_same_input_output_contract_as_the_gpt()
    {
        using var model = ModelFactory.Create(TinyMlp, seed: 1);
        using var scope = NewDisposeScope();
        var logits = model.forward(RandomTokens(seed: 2, batch: 4, time: 10));
        Assert.Equal(new long[] { 4, 10, 256 }, logits.shape);
        Assert.Equal(ScalarType.Float32, logits.dtype);
    }
}
