using ElasticTrain.Models;
using TorchSharp;
using static TorchSharp.torch;
using static ElasticTrain.Tests.Models.TestTensors;

namespace ElasticTrain.Tests.Models;

/// <summary>
/// Dropout masks are a function of (seed, sample, step, site) only: a sample is dropped alike
/// whatever batch it runs in and at whatever row, in the whole model or in a pipeline stage.
/// </summary>
public sealed class SampleDropoutTests
{
    private const double P = 0.3;
    private const long Seed = 11;
    private static readonly ModelSpec Gpt3 = ModelSpec.ForGpt(layers: 3, heads: 2, width: 32, block: 16);

    /// <summary>Bit for bit the same values.</summary>
    private static bool Same(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && a.eq(b).all().item<bool>();

    private static Tensor Values(int rows) => arange(rows * 6 * 10, dtype: ScalarType.Float32).add(1).view(rows, 6, 10);

    [Fact]
    public void A_samples_rows_are_dropped_alike_alone_or_at_any_row_of_any_batch()
    {
        using var scope = NewDisposeScope();
        int[] ids = [5, 9, 2, 7];
        var x = Values(ids.Length);
        var batch = new SampleMasks(P, Seed, 3, ids).Apply(x, DropoutSite.Attention(1));

        for (int r = 0; r < ids.Length; r++)
        {
            var alone = new SampleMasks(P, Seed, 3, [ids[r]]).Apply(x[r..(r + 1)], DropoutSite.Attention(1));
            Assert.True(Same(alone[0], batch[r]), $"sample {ids[r]} alone");
        }
        // Another batch, the same samples at other rows, with one more.
        var reordered = new SampleMasks(P, Seed, 3, [7, 1, 5]).Apply(stack([x[3], x[0], x[0]]), DropoutSite.Attention(1));
        Assert.True(Same(reordered[0], batch[3]) && Same(reordered[2], batch[0]));
    }

    [Fact]
    public void Another_step_sample_site_or_seed_draws_another_mask()
    {
        using var scope = NewDisposeScope();
        var x = Values(1);
        Tensor Drop(long seed, int sample, long step, DropoutSite site) => new SampleMasks(P, seed, step, [sample]).Apply(x, site);
        var reference = Drop(Seed, 4, 2, DropoutSite.Mlp(0));

        Assert.True(Same(reference, Drop(Seed, 4, 2, DropoutSite.Mlp(0))), "the same inputs must give the same mask");
        Assert.False(Same(reference, Drop(Seed, 4, 3, DropoutSite.Mlp(0))), "step");
        Assert.False(Same(reference, Drop(Seed, 5, 2, DropoutSite.Mlp(0))), "sample");
        Assert.False(Same(reference, Drop(Seed, 4, 2, DropoutSite.Attention(0))), "site");
        Assert.False(Same(reference, Drop(Seed + 1, 4, 2, DropoutSite.Mlp(0))), "seed");
    }

    [Fact]
    public void Without_masks_or_at_probability_zero_a_site_is_the_identity()
    {
        using var scope = NewDisposeScope();
        var x = Values(2);
        Assert.Same(x, DropoutSite.Embedding.Apply(x, null));
        Assert.Null(SampleMasks.For(0, Seed, 1, [0, 1]));
        Assert.True(Same(x, new SampleMasks(0, Seed, 1, [0, 1]).Apply(x, DropoutSite.Embedding)));
        Assert.Throws<ArgumentOutOfRangeException>(() => new SampleMasks(1, Seed, 1, [0]));
        Assert.Throws<ArgumentException>(() => new SampleMasks(P, Seed, 1, [0, 1, 2]).Apply(x, DropoutSite.Embedding));
    }

    [Fact]
    public void About_p_of_the_values_are_dropped_and_the_kept_are_scaled_by_one_over_one_minus_p()
    {
        using var scope = NewDisposeScope();
        var dropped = new SampleMasks(P, Seed, 1, [.. Enumerable.Range(0, 16)]).Apply(ones(16, 64, 63), DropoutSite.Embedding);
        var zeros = dropped.eq(0).to_type(ScalarType.Float32).mean().item<float>();
        Assert.InRange(zeros, P - 0.01, P + 0.01);
        var kept = dropped.masked_select(dropped.ne(0));
        Assert.Equal(1 / (1 - P), kept.min().item<float>(), 1e-6);
        Assert.Equal(1 / (1 - P), kept.max().item<float>(), 1e-6);
    }

    [Fact]
    public void The_model_drops_a_sample_alike_alone_or_in_a_batch_and_not_at_all_in_eval_mode()
    {
        using var scope = NewDisposeScope();
        using var model = (Gpt)ModelFactory.Create(Gpt3, Seed);
        var (input, _) = Batch.FromWindows(RandomBytes(seed: 2, count: 3 * 17), 3, 17);
        int[] ids = [8, 3, 6];
        var plain = model.call(input);

        model.Masks = new SampleMasks(P, Seed, 5, ids);
        var batch = model.call(input);
        model.Masks = new SampleMasks(P, Seed, 5, [ids[1]]);
        var alone = model.call(input[1..2]);
        Assert.True(alone[0].allclose(batch[1], rtol: 1e-5, atol: 1e-5), "sample 3 alone");
        Assert.False(batch.allclose(plain, rtol: 1e-3, atol: 1e-3), "the masks changed nothing");

        model.eval();
        model.Masks = new SampleMasks(P, Seed, 5, ids);
        Assert.True(Same(model.call(input), plain), "eval mode must not drop");
    }

    [Theory]
    [InlineData("gpt")]
    [InlineData("mlp")]
    public void Pipeline_stages_drop_what_the_whole_model_drops(string name)
    {
        var spec = name == "gpt" ? Gpt3 : TinyMlp;
        using var scope = NewDisposeScope();
        using var model = ModelFactory.Create(spec, Seed);
        using var first = new ModelStage(spec, Seed, 0, 2);
        using var second = new ModelStage(spec, Seed, 2, spec.PipelineLayers);
        var (input, _) = Batch.FromWindows(RandomBytes(seed: 4, count: 2 * (spec.Block + 1)), 2, spec.Block + 1);
        var plain = model.call(input);
        var masks = new SampleMasks(P, Seed, 9, [12, 0]);
        ((ISampleDropout)model).Masks = first.Masks = second.Masks = masks;

        var dropped = model.call(input);
        Assert.True(Same(second.call(first.call(input)), dropped));
        Assert.False(Same(plain, dropped), "the masks changed nothing");
    }
}
