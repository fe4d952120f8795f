using ElasticTrain.Ranks;
using TorchSharp;
using static TorchSharp.torch;

namespace ElasticTrain.Tests.Ranks;

public class GradientBufferTests
{
    [Fact]
    public void Gather_lays_gradients_end_to_end_and_scatter_writes_them_back_scaled()
    {
        using var a = zeros(2, 3, requires_grad: true);
        using var b = zeros(4, requires_grad: true);
        using (var loss = (a * tensor(new float[] { 1, 2, 3, 4, 5, 6 }).view(2, 3)).sum() + (b * tensor(new float[] { 7, 8, 9, 10 })).sum())
            loss.backward();

        var buffer = new GradientBuffer([a, b]);
        buffer.Gather();
        Assert.Equal([1f, 2, 3, 4, 5, 6, 7, 8, 9, 10], buffer.Values);

        for (int i = 0; i < buffer.Values.Length; i++) buffer.Values[i] = 10 * i;
        buffer.Scatter(0.5f);
        using var ga = a.grad!;
        using var gb = b.grad!;
        Assert.Equal([0f, 5, 10, 15, 20, 25], ga.data<float>().ToArray());
        Assert.Equal([30f, 35, 40, 45], gb.data<float>().ToArray());
    }
}
