using ElasticTrain.Models;
namespace ElasticTrain.Tests.Models;

public class ModelSpecTests
{
    [Fact]
    public void Default_spec_is_the_4_layer_4_head_256_wide_gpt_with_context_128_and_byte_vocab()
    {
        var spec = ModelSpec.DefaultGpt;
        Assert.Equal(("gpt", 4, 4, 256, 128, 256), (spec.Name, spec.Layers, spec.Heads, spec.Width, spec.Block, spec.Vocab));
        Assert.Equal(spec, new ModelSpec());
        Assert.Equal(129, spec.WindowLength);
    }

    [Fact]
    public void Name_is_case_insensitive_and_stored_in_lower_case()
    {
        Assert.Equal("mlp", new ModelSpec("MLP", 1, 1, 8, 8).Name);
    }

    [Theory]
    [InlineData("transformer")]
    [InlineData("")]
    public void Unknown_name_is_rejected_naming_the_allowed_ones(string name)
    {
        var e = Assert.Throws<ArgumentException>(() => new ModelSpec(name));
        Assert.Contains("gpt", e.Message);
        Assert.Contains("mlp", e.Message);
    }

    [Theory]
    [InlineData(0, 4, 256, 128, "layers")]
    [InlineData(4, 0, 256, 128, "heads")]
    [InlineData(4, 4, -256, 128, "width")]
    [InlineData(4, 4, 256, 0, "block")]
    public void Non_positive_dimensions_are_rejected_naming_the_dimension(int layers, int heads, int width, int block, string offending)
    {
        var e = Assert.Throws<ArgumentException>(() => new ModelSpec("gpt", layers, heads, width, block));
        Assert.Equal(offending, e.ParamName);
        Assert.Contains("positive", e.Message);
    }

    [Fact]
    public void Gpt_width_not_divisible_by_heads_is_rejected()
    {
        var e = Assert.Throws<ArgumentException>(() => new ModelSpec("gpt", 2, 3, 32, 16));
        Assert.Contains("not divisible", e.Message);
    }

    [Fact]
    public void Mlp_ignores_heads_so_divisibility_is_not_required()
    {
        var spec = new ModelSpec("mlp", 1, 3, 32, 16);
        Assert.Equal(3, spec.Heads);
    }

    [Fact]
    public void Vocab_other_than_256_is_rejected_because_models_are_byte_level()
    {
        var e = Assert.Throws<ArgumentException>(() => new ModelSpec("gpt", vocab: 512));
        Assert.Equal("vocab", e.ParamName);
    }
}
