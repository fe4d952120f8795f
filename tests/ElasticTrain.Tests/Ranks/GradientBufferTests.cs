using ElasticTrain.Ranks;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ElasticTrain.Tests.Ranks;

public class GradientBufferTests
{
    [Fact]
    public void Gather_lays_gradients_end_to_end_in_backward_order_and_scatter_writes_them_back_scaled()
    {
        using var a = new Parameter(zeros(2, 3));
        using var b = new Parameter(zeros(4));
        using (var loss = (a * tensor(new float[] { 1, 2, 3, 4, 5, 6 }).view(2, 3)).sum() + (b * tensor(new float[] { 7, 8, 9, 10 })).sum())
            loss.backward();

        // b finishes first in backward: it leads the buffer.
        var buffer = new GradientBuffer([[b], [a]], bucketValues: 0);
        foreach (var bucket in buffer.Buckets) buffer.Gather(bucket);
        Assert.Equal([7f, 8, 9, 10, 1, 2, 3, 4, 5, 6], buffer.Values);

        for (int i = 0; i < buffer.Values.Length; i++) buffer.Values[i] = 10 * i;
        buffer.Scatter(0.5f);
        using var ga = a.grad!;
        using var gb = b.grad!;
        Assert.Equal([0f, 5, 10, 15], gb.data<float>().ToArray());
        Assert.Equal([20f, 25, 30, 35, 40, 45], ga.data<float>().ToArray());
        Assert.Equal([.. Enumerable.Range(0, 10).Select(i => 10f * i)], buffer.Values); // the sums stay
    }

    [Fact]
    public void Buckets_fill_to_capacity_in_order_and_are_ready_with_their_latest_stage()
    {
        var buckets = GradientBucket.Plan(sizes: [4, 4, 10, 2, 3], stages: [0, 0, 1, 2, 2], capacity: 6);
        Assert.Equal(
            [new GradientBucket(0, 0, 2, 0, 8, 0), new GradientBucket(1, 2, 3, 8, 10, 1), new GradientBucket(2, 3, 5, 18, 5, 2)],
            buckets);
    }

    [Fact]
    public void Capacity_zero_makes_one_bucket_of_everything()
    {
        var bucket = Assert.Single(GradientBucket.Plan(sizes: [4, 4, 10], stages: [0, 1, 2], capacity: 0));
        Assert.Equal(new GradientBucket(0, 0, 3, 0, 18, 2), bucket);
    }
}
