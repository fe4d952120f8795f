using ElasticTrain.Ranks.ParameterServer;

namespace ElasticTrain.Tests.Ranks.ParameterServer;

public class DelayCompensationTests
{
    [Fact]
    public void The_gradient_gains_lambda_times_its_square_times_how_far_the_values_moved()
    {
        float[] gradient = [2, -1, 0.5f, 3];
        float[] current = [1, 1, 4, -2];
        float[] stale = [0.5f, 3, 4, -1];
        DelayCompensation.Compensate(gradient, current, stale, 0.1);
        // 2 + 0.1*4*0.5, -1 + 0.1*1*(-2), 0.5 + 0.1*0.25*0, 3 + 0.1*9*(-1)
        Assert.Equal([2.2f, -1.2f, 0.5f, 2.1f], gradient, (a, b) => Math.Abs(a - b) < 1e-6f);
    }

    [Fact]
    public void Lambda_zero_and_unmoved_values_leave_the_gradient_as_it_was()
    {
        float[] gradient = [2, -1, 0.5f];
        DelayCompensation.Compensate(gradient, [9, 9, 9], [1, 2, 3], 0);
        Assert.Equal([2f, -1, 0.5f], gradient);
        DelayCompensation.Compensate(gradient, [1, 2, 3], [1, 2, 3], DelayCompensation.MxNetLambda);
        Assert.Equal([2f, -1, 0.5f], gradient);
        Assert.Equal(0.04, DelayCompensation.MxNetLambda);
    }

    [Fact]
    public void A_piece_longer_than_a_chunk_is_compensated_element_by_element_to_its_end()
    {
        var random = new Random(3);
        float[] Values(int n) => [.. Enumerable.Range(0, n).Select(_ => (float)(random.NextDouble() * 2 - 1))];
        var (gradient, current, stale) = (Values(2500), Values(2500), Values(2500));
        var expected = gradient.Select((g, i) => g + 0.04f * g * g * (current[i] - stale[i])).ToArray();
        DelayCompensation.Compensate(gradient, current, stale, 0.04);
        Assert.Equal(expected, gradient, (a, b) => Math.Abs(a - b) <= 1e-6f);
    }

    [Fact]
    public void A_negative_lambda_and_spans_of_other_lengths_are_refused()
    {
        Assert.Contains("lambda", Assert.Throws<ArgumentException>(() => DelayCompensation.Compensate(new float[2], new float[2], new float[2], -0.1)).Message);
        Assert.Contains("lambda", Assert.Throws<ArgumentException>(() => DelayCompensation.Compensate(new float[2], new float[2], new float[2], double.NaN)).Message);
        Assert.Contains("of one piece", Assert.Throws<ArgumentException>(() => DelayCompensation.Compensate(new float[2], new float[3], new float[2], 0.04)).Message);
    }
}
