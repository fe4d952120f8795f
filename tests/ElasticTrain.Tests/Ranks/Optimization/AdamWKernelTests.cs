using System.Runtime.InteropServices;
using ElasticTrain.Ranks.Optimization;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ElasticTrain.Tests.Ranks.Optimization;

/// <summary>
/// The one-pass AdamW against TorchSharp's torch.optim AdamW, from the same start with the same
/// gradients, at a changing learning rate and with decay: values and both moments within 1e-6
/// relative after 20 steps (the two round the same float32 operations, one fused multiply-add
/// apart at most per operation). 67 values: eight vectors of eight and a tail of three.
/// </summary>
public class AdamWKernelTests
{
    private const double Beta1 = 0.9, Beta2 = 0.95, Eps = 1e-8, Decay = 0.1;

    [Fact]
    public void Twenty_steps_agree_with_torch_optim_AdamW()
    {
        using var scope = NewDisposeScope();
        var random = new Random(5);
        var start = Enumerable.Range(0, 67).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        var torchParameter = new Parameter(tensor(start));
        using var reference = optim.AdamW([torchParameter], lr: 1, beta1: Beta1, beta2: Beta2, eps: Eps, weight_decay: Decay);
        float[] values = [.. start], average = new float[67], squareAverage = new float[67];

        for (long step = 1; step <= 20; step++)
        {
            var rate = 1e-2 / step;
            var gradient = Enumerable.Range(0, 67).Select(_ => (float)(random.NextDouble() * 2 - 1) * 1e-2f).ToArray();
            torchParameter.grad = tensor(gradient);
            foreach (var group in reference.ParamGroups) group.LearningRate = rate;
            reference.step();
            AdamWKernel.Step(values, gradient, average, squareAverage, AdamWKernel.Scalars.For(rate, Decay, Beta1, Beta2, Eps, step));
        }

        var state = (AdamW.State)reference.state_dict().State.Single();
        AssertClose(torchParameter.data<float>().ToArray(), values);
        AssertClose(state.exp_avg.data<float>().ToArray(), average);
        AssertClose(state.exp_avg_sq.data<float>().ToArray(), squareAverage);
    }

    /// <summary>
    /// A step reads the exchange's sums and multiplies them by the step's factor as it goes; that
    /// must be, bit for bit, the step from the gradient a pass writing the products out first gives.
    /// </summary>
    [Theory]
    [InlineData(1f / 16)]
    [InlineData(0.0371f)]
    public void Stepping_from_sums_times_a_factor_is_stepping_from_their_products(float factor)
    {
        var random = new Random(11);
        float[] Draw(double size) => [.. Enumerable.Range(0, 67).Select(_ => (float)((random.NextDouble() * 2 - 1) * size))];
        var start = Draw(1);
        float[] fromProducts = [.. start], fromSums = [.. start];
        float[] averageA = new float[67], squareA = new float[67], averageB = new float[67], squareB = new float[67];
        for (long step = 1; step <= 5; step++)
        {
            var sums = Draw(0.5);
            var products = new float[67];
            System.Numerics.Tensors.TensorPrimitives.Multiply(sums, factor, products);
            var scalars = AdamWKernel.Scalars.For(1e-2, Decay, Beta1, Beta2, Eps, step);
            AdamWKernel.Step(fromProducts, products, averageA, squareA, scalars);
            AdamWKernel.Step(fromSums, sums, factor, averageB, squareB, scalars);
        }
        Assert.Equal(fromProducts, fromSums);
        Assert.Equal(averageA, averageB);
        Assert.Equal(squareA, squareB);
    }

    [Fact]
    public void Lengths_that_differ_are_refused()
    {
        var scalars = AdamWKernel.Scalars.For(1e-3, 0, Beta1, Beta2, Eps, 1);
        Assert.Throws<ArgumentException>(() => AdamWKernel.Step(new float[8], new float[7], new float[8], new float[8], scalars));
    }

    private static void AssertClose(float[] expected, float[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-6 * Math.Abs(expected[i]) + 1e-9, $"value {i}: {actual[i]} against torch's {expected[i]}");
    }
}
