using ElasticTrain.Models;
using TorchSharp;
using static TorchSharp.torch;
using static ElasticTrain.Tests.Models.TestTensors;

namespace ElasticTrain.Tests.Models;

public class GptTests
{
    [Fact]
    public void Default_gpt_has_3323392_parameters()
    {
        using var model = ModelFactory.Create(ModelSpec.DefaultGpt, seed: 1);
        Assert.IsType<Gpt>(model);
        Assert.Equal(3_323_392, ModelFactory.CountParameters(model));
    }

    [Fact]
    public void Parameter_names_shapes_and_order_match_the_pytorch_reference()
    {
        using var model = ModelFactory.Create(ModelSpec.ForGpt(layers: 1, heads: 2, width: 8, block: 4), seed: 1);
        var actual = model.named_parameters().Select(p => $"{p.name}:[{string.Join(",", p.parameter.shape)}]").ToArray();
        string[] expected =
        [
            "tok.weight:[256,8]", "pos.weight:[4,8]",
            "blocks.0.ln1.weight:[8]", "blocks.0.ln1.bias:[8]", "blocks.0.ln2.weight:[8]", "blocks.0.ln2.bias:[8]",
            "blocks.0.qkv.weight:[24,8]", "blocks.0.qkv.bias:[24]", "blocks.0.proj.weight:[8,8]", "blocks.0.proj.bias:[8]",
            "blocks.0.fc.weight:[32,8]", "blocks.0.fc.bias:[32]", "blocks.0.out.weight:[8,32]", "blocks.0.out.bias:[8]",
            "ln.weight:[8]", "ln.bias:[8]", "head.weight:[256,8]",
        ];
        Assert.Equal(expected, actual);
    }

    [Fact]
    public void State_dict_holds_only_parameters_so_the_causal_mask_is_not_persisted()
    {
        using var model = ModelFactory.Create(TinyGpt, seed: 1);
        var keys = model.state_dict().Keys.ToHashSet();
        Assert.Equal(model.named_parameters().Select(p => p.name).ToHashSet(), keys);
        Assert.Empty(model.buffers());
    }

    [Fact]
    public void Forward_maps_int64_tokens_B_by_T_to_float32_logits_B_by_T_by_256_for_any_T_up_to_block()
    {
        using var model = ModelFactory.Create(TinyGpt, seed: 1);
        using var scope = NewDisposeScope();
        foreach (var t in new long[] { 1, 7, TinyGpt.Block })
        {
            var logits = model.forward(RandomTokens(seed: t, batch: 3, time: t));
            Assert.Equal(new long[] { 3, t, 256 }, logits.shape);
            Assert.Equal(ScalarType.Float32, logits.dtype);
            Assert.True(logits.isfinite().all().item<bool>());
        }
    }

    [Fact]
    public void Forward_rejects_sequences_longer_than_block()
    {
        using var model = ModelFactory.Create(TinyGpt, seed: 1);
        using var tokens = RandomTokens(seed: 1, batch: 1, time: TinyGpt.Block + 1);
        var e = Assert.Throws<ArgumentException>(() => model.forward(tokens));
        Assert.Contains("block size", e.Message);
    }

    [Fact]
    public void Changing_token_t_plus_1_does_not_change_logits_at_positions_up_to_t()
    {
        using var model = ModelFactory.Create(ModelSpec.ForGpt(layers: 2, heads: 2, width: 32, block: 16), seed: 3);
        using var scope = NewDisposeScope();
        var tokens = RandomTokens(seed: 5, batch: 2, time: 16);
        var reference = model.forward(tokens);
        foreach (var t in new long[] { 0, 5, 14 })
        {
            var changed = tokens.clone();
            changed[TensorIndex.Colon, t + 1] = (changed[TensorIndex.Colon, t + 1] + 1) % 256;
            var logits = model.forward(changed);
            var prefix = TensorIndex.Slice(0, t + 1);
            Assert.True(MaxAbsDifference(logits[TensorIndex.Colon, prefix], reference[TensorIndex.Colon, prefix]) <= 1e-6,
                $"logits at positions <= {t} changed when token {t + 1} changed");
            // Not vacuous: the changed position itself must see its new token.
            Assert.True(MaxAbsDifference(logits[TensorIndex.Colon, t + 1], reference[TensorIndex.Colon, t + 1]) > 1e-4);
        }
    }

    [Fact]
    public void Forward_leaves_only_the_logits_in_the_callers_dispose_scope()
    {
        using var model = ModelFactory.Create(TinyGpt, seed: 1);
        using var tokens = RandomTokens(seed: 1, batch: 2, time: 8);
        using var scope = NewDisposeScope();
        var before = scope.DisposablesCount;
        _ = model.forward(tokens);
        Assert.Equal(before + 1, scope.DisposablesCount);
    }
}
