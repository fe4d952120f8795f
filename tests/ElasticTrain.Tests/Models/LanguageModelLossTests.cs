using ElasticTrain.Models;
using TorchSharp;
using static TorchSharp.torch;
using static ElasticTrain.Tests.Models.TestTensors;

namespace ElasticTrain.Tests.Models;

public class LanguageModelLossTests
{
    [Fact]
    public void Loss_is_the_sum_over_samples_of_each_samples_mean_token_cross_entropy()
    {
        using var model = ModelFactory.Create(TinyGpt, seed: 11);
        using var scope = NewDisposeScope();
        var (input, target) = Batch.FromWindows(RandomBytes(seed: 1, count: 5 * 17), samples: 5, windowLength: 17);
        var logits = model.forward(input);

        var loss = LanguageModelLoss.SumOfSampleMeans(logits, target);
        Assert.Empty(loss.shape);

        double expected = 0;
        for (var i = 0; i < 5; i++)
            expected += nn.functional.cross_entropy(logits[i], target[i]).item<float>();
        var actual = loss.item<float>();
        Assert.True(Math.Abs(actual - expected) <= 1e-5 * Math.Abs(expected), $"{actual} vs {expected}");
    }

    [Fact]
    public void Mismatched_shapes_are_rejected()
    {
        using var scope = NewDisposeScope();
        var logits = zeros(2, 3, 256);
        var targets = zeros(2, 4, dtype: ScalarType.Int64);
        Assert.Throws<ArgumentException>(() => LanguageModelLoss.SumOfSampleMeans(logits, targets));
    }

    public static TheoryData<string> Specs => new() { "mlp", "gpt" };

    [Theory]
    [MemberData(nameof(Specs))]
    public void Gradients_of_loss_sums_over_slices_1_2_3_add_up_to_the_gradient_of_the_whole_batch(string name)
    {
        var spec = name == "mlp" ? TinyMlp : TinyGpt;
        using var model = ModelFactory.Create(spec, seed: 21);
        using var scope = NewDisposeScope();
        var (input, target) = Batch.FromWindows(
            RandomBytes(seed: 2, count: 6 * spec.WindowLength), samples: 6, windowLength: spec.WindowLength);

        Tensor[] Gradients() => model.parameters().Select(p => p.grad!.clone()).ToArray();

        model.zero_grad();
        LanguageModelLoss.SumOfSampleMeans(model.forward(input), target).backward();
        var whole = Gradients();

        model.zero_grad();
        var start = 0L;
        foreach (var size in new long[] { 1, 2, 3 })
        {
            var slice = TensorIndex.Slice(start, start + size);
            LanguageModelLoss.SumOfSampleMeans(model.forward(input[slice]), target[slice]).backward();
            start += size;
        }
        var sliced = Gradients();

        foreach (var (s, w) in sliced.Zip(whole))
            Assert.True(RelativeError(s, w) <= 1e-5, $"relative error {RelativeError(s, w)}");
    }
}
