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
