using ElasticTrain.Data;
using ElasticTrain.Jobs;
using ElasticTrain.Models;
using TorchSharp;
using static TorchSharp.torch;
using static ElasticTrain.Tests.Models.TestTensors;

namespace ElasticTrain.Tests.Models;

/// <summary>
/// The pipeline's correctness in one claim: running P stages in sequence over M micro-batches, with
/// the loss scaled as a replica scales it (each micro-batch's sum of per-sample mean losses, the
/// accumulated gradient divided once by the global batch), gives the loss and every parameter's
/// gradient of one forward and backward of the whole model over the whole batch.
/// </summary>
/// <remarks>
/// Tolerance 1e-5 relative, per parameter (||g_pipeline - g_whole|| / ||g_whole||) and on the loss;
/// what differs is only the order of float32 sums over samples, and the largest error seen is
/// below 1e-6. The global batch of 7 splits unevenly into most micro-batch counts, so a scaling that
/// is right only for equal micro-batches fails as surely as one off by a constant factor.
/// </remarks>
public class StageEquivalenceTests
{
    private const double Tolerance = 1e-5;
    private const int GlobalBatch = 7;
    private const int Time = 16;
    private const long Seed = 17;

    private static readonly ModelSpec Gpt3 = ModelSpec.ForGpt(layers: 3, heads: 2, width: 32, block: 16);

    /// <summary>Model, stages P, micro-batches M: M = 1, M = P, M > P and M &lt; P where P allows.</summary>
    public static TheoryData<string, int, int> Meshes()
    {
        var data = new TheoryData<string, int, int>();
        foreach (var (name, spec) in new[] { ("gpt", Gpt3), ("mlp", TinyMlp) })
            for (int p = 1; p <= Math.Min(4, spec.PipelineLayers); p++)
                foreach (var m in new[] { 1, p, p + 2, p - 1 }.Where(m => m >= 1).Distinct())
                    data.Add(name, p, m);
        return data;
    }

    [Theory]
    [MemberData(nameof(Meshes))]
    public void Stages_over_micro_batches_give_the_whole_batchs_loss_and_gradients(string name, int stages, int microBatches)
    {
        var spec = name == "gpt" ? Gpt3 : TinyMlp;
        using var scope = NewDisposeScope();
        var (input, target) = Batch.FromWindows(RandomBytes(seed: 3, count: GlobalBatch * (Time + 1)), GlobalBatch, Time + 1);

        var (wholeLoss, whole) = WholeModel(spec, input, target);
        var (pipelineLoss, pipeline) = Pipeline(spec, stages, microBatches, input, target, LanguageModelLoss.SumOfSampleMeans);

        Assert.Equal(whole.Keys.Order(), pipeline.Keys.Order());
        Assert.True(Math.Abs(pipelineLoss / wholeLoss - 1) <= Tolerance, $"loss {pipelineLoss} vs {wholeLoss}");
        foreach (var (parameter, gradient) in whole)
        {
            var error = RelativeError(pipeline[parameter], gradient);
            Assert.True(error <= Tolerance, $"{parameter}: relative error {error:E2}");
        }
        // A factor anywhere in the micro-batch scaling shows here as a ratio away from 1, which
        // allclose with a loose absolute tolerance could miss when gradients are small.
        var ratio = Norm(pipeline.Values) / Norm(whole.Values);
        Assert.True(Math.Abs(ratio - 1) <= Tolerance, $"gradient norm ratio {ratio}");
    }

    [Fact]
    public void The_checks_catch_micro_batch_scalings_that_are_right_only_for_equal_micro_batches()
    {
        using var scope = NewDisposeScope();
        var (input, target) = Batch.FromWindows(RandomBytes(seed: 3, count: GlobalBatch * (Time + 1)), GlobalBatch, Time + 1);
        var (_, whole) = WholeModel(Gpt3, input, target);
        const int microBatches = 3; // 7 samples as 3 + 2 + 2

        // The usual accumulation recipe: each micro-batch's mean, then divided by M (here scaled back
        // by B so that a correct recipe would give the same gradient as ours).
        var (_, averaged) = Pipeline(Gpt3, stages: 2, microBatches, input, target,
            (logits, t) => LanguageModelLoss.SumOfSampleMeans(logits, t) / t.shape[0] / microBatches * GlobalBatch);
        var ratio = Norm(averaged.Values) / Norm(whole.Values);
        Assert.True(Math.Abs(ratio - 1) > 100 * Tolerance, $"gradient norm ratio {ratio} should betray the scaling");
    }

    /// <summary>The whole model's loss and gradients over the whole batch, both divided by the global batch as Replica.Apply does.</summary>
    private static (double Loss, Dictionary<string, Tensor> Gradients) WholeModel(ModelSpec spec, Tensor input, Tensor target)
    {
        using var model = ModelFactory.Create(spec, Seed);
        var loss = LanguageModelLoss.SumOfSampleMeans(model.forward(input), target);
        loss.backward();
        return (loss.item<float>() / (double)GlobalBatch, model.named_parameters().ToDictionary(p => p.name, p => p.parameter.grad! / GlobalBatch));
    }

    /// <summary>
    /// Stages of a balanced partition run micro-batch after micro-batch, each forward through every
    /// stage then backward through every stage: a stage's input is the previous stage's output
    /// detached into a leaf, and the gradient that backward leaves on it is what the previous stage
    /// backpropagates. Gradients accumulate over micro-batches and are divided once by the global batch.
    /// </summary>
    private static (double Loss, Dictionary<string, Tensor> Gradients) Pipeline(ModelSpec spec, int stages, int microBatches,
        Tensor input, Tensor target, Func<Tensor, Tensor, Tensor> microBatchLoss)
    {
        var partition = StagePartition.Balanced([.. Enumerable.Repeat(1.0, spec.PipelineLayers)], stages);
        var pipeline = Enumerable.Range(0, stages)
            .Select(s => new ModelStage(spec, Seed, partition.FirstLayer(s), partition.EndLayer(s))).ToArray();
        try
        {
            double lossSum = 0;
            foreach (var (offset, count) in SliceSplit.Even(GlobalBatch, Math.Min(microBatches, GlobalBatch)))
            {
                using var step = NewDisposeScope();
                var rows = TensorIndex.Slice(offset, offset + count);
                var inputs = new Tensor[stages];
                var outputs = new Tensor[stages];
                var x = input[rows];
                for (int s = 0; s < stages; s++)
                {
                    inputs[s] = s == 0 ? x : x.detach().requires_grad_(true);
                    outputs[s] = x = pipeline[s].forward(inputs[s]);
                }
                var loss = microBatchLoss(outputs[^1], target[rows]);
                lossSum += loss.item<float>();
                loss.backward();
                for (int s = stages - 2; s >= 0; s--)
                    outputs[s].backward([inputs[s + 1].grad!]);
            }
            return (lossSum / GlobalBatch, pipeline.SelectMany(stage => stage.named_parameters())
                .ToDictionary(p => p.name, p => p.parameter.grad! / GlobalBatch));
        }
        finally
        {
            foreach (var stage in pipeline) stage.Dispose();
        }
    }

    private static double Norm(IEnumerable<Tensor> tensors) =>
        Math.Sqrt(tensors.Sum(t => { using var n = t.to(ScalarType.Float64).square().sum(); return n.item<double>(); }));
}
