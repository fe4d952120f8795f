using ElasticTrain.Ranks;
using ElasticTrain.Ranks.Optimization;
using ElasticTrain.Training;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ElasticTrain.Tests.Ranks.Optimization;

/// <summary>
/// A top-k job's Adam(W): torch.optim's rule during the dense steps, within 1e-6 relative; after
/// them its second moment stays as it was but where a refresh replaces it, and the step reads it
/// with the bias of the step it was taken at.
/// </summary>
public class RefreshedMomentAdamTests
{
    private const double Rate = 0.01, Decay = 0.1;

    /// <summary>Two parameters (a matrix and a vector) with the same start, and a gradient per step from a fixed seed.</summary>
    private sealed class Part : IDisposable
    {
        public Parameter Weight { get; } = new(tensor(new float[] { 0.5f, -0.25f, 0.125f, 1, -1, 0.75f }).view(2, 3));
        public Parameter Bias { get; } = new(tensor(new float[] { 0.1f, -0.2f }));

        public List<Parameter> All => [Weight, Bias];

        public void Gradients(long step)
        {
            // The gradient of sum(p · c) is c: a fixed random c per step.
            var random = new Random((int)step);
            foreach (var p in All)
            {
                using (var old = p.grad) old?.zero_();
                using var c = tensor([.. Enumerable.Range(0, (int)p.numel()).Select(_ => (float)(random.NextDouble() * 2 - 1))], p.shape);
                using var loss = (p * c).sum();
                loss.backward();
            }
        }

        public float[] Values => [.. All.SelectMany(p => p.data<float>().ToArray())];

        public void Dispose()
        {
            Weight.Dispose();
            Bias.Dispose();
        }
    }

    [Theory]
    [InlineData(OptimizerKind.AdamW)]
    [InlineData(OptimizerKind.Adam)]
    public void During_the_dense_steps_it_is_torch_optims_rule(OptimizerKind kind)
    {
        using var ours = new Part();
        using var theirs = new Part();
        var settings = new OptimizerSettings(kind);
        using var refreshed = PartOptimizer.Create(settings, Decay, ours.All, new SecondMomentRefresh(DenseSteps: 10, Every: 5));
        using var torchOptim = PartOptimizer.Create(settings, Decay, theirs.All);
        var layout = new GradientBuffer([ours.All], 0);
        for (long step = 1; step <= 8; step++)
        {
            ours.Gradients(step);
            theirs.Gradients(step);
            ((RefreshedMomentAdam)refreshed).Step(Rate, step, refreshed: null, layout);
            torchOptim.Step(Rate);
        }
        foreach (var (a, b) in ours.Values.Zip(theirs.Values)) Assert.Equal(b, a, tolerance: 1e-6 * Math.Max(1, Math.Abs(b)));
        var (mine, torchs) = (refreshed.StateOf(ours.Weight), torchOptim.StateOf(theirs.Weight));
        Assert.Equal(torchs.Step, mine.Step);
        Assert.Equal(torchs.Slots.Select(s => s.Slot), mine.Slots.Select(s => s.Slot));
    }

    [Fact]
    public void After_them_the_second_moment_holds_until_a_refresh_replaces_it_and_is_read_with_that_steps_bias()
    {
        using var part = new Part();
        var schedule = new SecondMomentRefresh(DenseSteps: 2, Every: 3);
        using var optimizer = (RefreshedMomentAdam)PartOptimizer.Create(new OptimizerSettings(OptimizerKind.AdamW), 0, part.All, schedule);
        var layout = new GradientBuffer([part.All], 0);
        float[] SecondMoment() => [.. part.All.SelectMany(p => optimizer.StateOf(p).Slots.Single(s => s.Slot == "exp_avg_sq").Tensor.data<float>().ToArray())];
        for (long step = 1; step <= 2; step++)
        {
            part.Gradients(step);
            optimizer.Step(Rate, step, null, layout);
        }
        var afterDense = SecondMoment();
        Assert.All(afterDense, v => Assert.True(v > 0));

        // Step 3 refreshes: the moment given becomes the parameters' (buffer order: weight, then bias).
        float[] given = [.. Enumerable.Range(1, 8).Select(i => i * 1e-3f)];
        part.Gradients(3);
        var before = part.Values;
        var firstMoment = part.All.SelectMany(p => optimizer.StateOf(p).Slots.Single(s => s.Slot == "exp_avg").Tensor.data<float>().ToArray()).ToArray();
        var gradient = part.All.SelectMany(p => p.grad!.data<float>().ToArray()).ToArray();
        optimizer.Step(Rate, 3, given, layout);
        Assert.Equal(given, SecondMoment());
        // Adam's step with the moment as given, read at step 3's bias: lr · m̂ / (sqrt(v / (1 - beta2^3)) + eps).
        var after = part.Values;
        for (int i = 0; i < given.Length; i++)
        {
            var m = 0.9 * firstMoment[i] + 0.1 * gradient[i];
            var expected = before[i] - Rate * (m / (1 - Math.Pow(0.9, 3))) / (Math.Sqrt(given[i] / (1 - Math.Pow(0.999, 3))) + 1e-8);
            Assert.Equal(expected, after[i], tolerance: 1e-5 * Math.Max(1, Math.Abs(expected)));
        }

        // Steps 4 and 5 take in nothing; step 6 refreshes again.
        for (long step = 4; step <= 5; step++)
        {
            part.Gradients(step);
            optimizer.Step(Rate, step, null, layout);
            Assert.Equal(given, SecondMoment());
        }
        Assert.Throws<InvalidOperationException>(() => optimizer.Step(Rate));
    }

    /// <summary>
    /// A refresh that leaves a coordinate at zero (no rank had a gradient for it): the step reads
    /// the moment no lower than the least Adam's own could be beside its first moment, so the
    /// coordinate moves by a bounded step instead of by m / eps.
    /// </summary>
    [Fact]
    public void A_coordinate_the_refresh_left_at_zero_moves_by_a_bounded_step_not_by_its_first_moment_over_eps()
    {
        using var part = new Part();
        using var optimizer = (RefreshedMomentAdam)PartOptimizer.Create(new OptimizerSettings(OptimizerKind.AdamW), 0, part.All,
            new SecondMomentRefresh(DenseSteps: 0, Every: 5));
        var layout = new GradientBuffer([part.All], 0);
        part.Gradients(1);
        var before = part.Values;
        var gradient = part.All.SelectMany(p => p.grad!.data<float>().ToArray()).ToArray();
        optimizer.Step(Rate, 1, new float[before.Length], layout);
        var after = part.Values;
        var bound = RefreshedMomentAdam.FirstMomentBound(0.9, 0.999);
        Assert.Equal(0.0189, bound, tolerance: 1e-4);
        for (int i = 0; i < before.Length; i++)
        {
            // m = 0.1 g, m̂ = g; the moment read is bound · m², at step 1's bias 1 - 0.999.
            var m = 0.1 * gradient[i];
            var expected = before[i] - Rate * (m / 0.1) / (Math.Sqrt(bound * m * m / (1 - 0.999)) + 1e-8);
            Assert.Equal(expected, after[i], tolerance: 1e-5);
            Assert.InRange(Math.Abs(after[i] - before[i]), 0, 3 * Rate);
        }
    }
}
