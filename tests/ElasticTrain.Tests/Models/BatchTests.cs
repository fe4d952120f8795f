using ElasticTrain.Models;
using static TorchSharp.torch;

namespace ElasticTrain.Tests.Models;

public class BatchTests
{
    [Fact]
    public void Each_window_gives_its_first_W_minus_1_bytes_as_input_and_its_last_W_minus_1_as_target()
    {
        using var scope = NewDisposeScope();
        var (input, target) = Batch.FromWindows([1, 2, 3, 4, 10, 20, 30, 40], samples: 2, windowLength: 4);
        Assert.Equal(new long[] { 2, 3 }, input.shape);
        Assert.Equal(ScalarType.Int64, input.dtype);
        Assert.Equal(new long[] { 1, 2, 3, 10, 20, 30 }, input.data<long>().ToArray());
        Assert.Equal(new long[] { 2, 3, 4, 20, 30, 40 }, target.data<long>().ToArray());
    }

    [Fact]
    public void Token_count_must_equal_samples_times_window_length()
    {
        var e = Assert.Throws<ArgumentException>(() => Batch.FromWindows([1, 2, 3], samples: 2, windowLength: 2));
        Assert.Equal("tokens", e.ParamName);
    }
}
