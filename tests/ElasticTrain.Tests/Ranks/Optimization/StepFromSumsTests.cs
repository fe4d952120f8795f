using ElasticTrain.Collectives;
using ElasticTrain.Collectives.Transport;
using ElasticTrain.Data;
using ElasticTrain.Jobs;
using ElasticTrain.Models;
using ElasticTrain.Ranks;
using ElasticTrain.Ranks.Optimization;
using ElasticTrain.Training;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ElasticTrain.Tests.Ranks.Optimization;

/// <summary>
/// AdamW on float32 tensors in memory steps from the exchange's summed gradient, multiplying by the
/// step's factor as it reads, instead of writing the mean gradient into every parameter's
/// <c>.grad</c> first. Adam barely notices a gradient's scale, so a curve would hide a wrong factor
/// or a parameter read from another's place: these compare bits.
/// </summary>
public class StepFromSumsTests
{
    private static readonly ModelSpec Spec = new("gpt", layers: 2, heads: 2, width: 16, block: 8);

    [Fact]
    public void AdamW_stepping_from_the_sums_leaves_what_stepping_after_writing_the_gradients_out_leaves()
    {
        using var scope = NewDisposeScope();
        var random = new Random(3);
        (List<Parameter> Parameters, GradientBuffer Buffer, PartOptimizer Optimizer) Part()
        {
            var parameters = ModelFactory.Create(Spec, seed: 9).parameters().ToList();
            // Backward fills every .grad; its values do not matter here, only that there is one.
            foreach (var p in parameters) p.grad = zeros_like(p);
            // A reversed order, so that buffer order and the optimizer's order differ.
            var stages = parameters.AsEnumerable().Reverse().Select(p => (IReadOnlyList<Parameter>)[p]).ToList();
            return (parameters, new GradientBuffer(stages, bucketValues: 0), PartOptimizer.Create(OptimizerSettings.Default with { DecayBiasesAndNorms = false }, 0.1, parameters));
        }
        var fromSums = Part();
        var scattered = Part();
        Assert.True(fromSums.Optimizer.StepsFromSums);
        using var a = fromSums.Optimizer;
        using var b = scattered.Optimizer;

        foreach (var (step, factor) in new[] { (1, 1f / 16), (2, 0.0371f), (3, 1f / 16) })
        {
            for (int i = 0; i < fromSums.Buffer.Values.Length; i++)
                fromSums.Buffer.Values[i] = scattered.Buffer.Values[i] = (float)(random.NextDouble() * 2 - 1);
            fromSums.Optimizer.Step(1e-2 / step, fromSums.Buffer, factor);
            scattered.Buffer.Scatter(factor);
            scattered.Optimizer.Step(1e-2 / step);
        }

        for (int i = 0; i < fromSums.Parameters.Count; i++)
        {
            Assert.Equal(scattered.Parameters[i].data<float>().ToArray(), fromSums.Parameters[i].data<float>().ToArray());
            var (left, right) = (a.StateOf(fromSums.Parameters[i]), b.StateOf(scattered.Parameters[i]));
            Assert.Equal(right.Step, left.Step);
            foreach (var ((_, x), (_, y)) in left.Slots.Zip(right.Slots))
                Assert.Equal(y.data<float>().ToArray(), x.data<float>().ToArray());
        }
    }

    [Fact]
    public void A_replicas_applied_mean_gradient_is_its_summed_gradient_over_the_global_batch()
    {
        var job = new JobConfig("sums-test", "gpt", Layers: 2, Heads: 2, Width: 16, Block: 8,
            GlobalBatch: 4, Steps: 1, LearningRate: 1e-3, WeightDecay: 0.01, Seed: 9, DataPath: "", CheckpointEvery: 100);
        using var transport = new TensorTransport("127.0.0.1", System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
        var port = transport.Open("solo");
        using var replica = new Replica(job, "hash", CPU, bucketBytes: 0);
        using var exchange = new BucketExchange(new RingAllReduce(port, TimeSpan.FromSeconds(30)), port.Rank, torchThreads: 1);
        var dataset = new WindowDataset(Corpus.Load(TinyCorpus.Path_), job.Block + 1);
        var ids = new EpochSchedule(job.Seed, dataset.Count, job.GlobalBatch).SampleIds(1, 0, job.GlobalBatch);
        replica.Exchange(1, dataset.ReadWindows(ids), ids, exchange, new ExchangeGroup(1, 1, 0, [new ExchangeMember(port.Rank, port.Address)]), CancellationToken.None);
        var sums = replica.ExchangedGradient();
        replica.Apply(1);

        var applied = replica.AppliedGradients();
        Assert.Equal([.. sums.Select(s => s * (1f / job.GlobalBatch))], replica.GradientNames.SelectMany(name => applied[name]).ToArray());
        Assert.Contains(sums, s => s != 0);
    }

    [Fact]
    public void Rules_that_read_the_gradients_do_not_step_from_sums()
    {
        using var scope = NewDisposeScope();
        var parameters = ModelFactory.Create(Spec, seed: 9).parameters().ToList();
        using var sgd = PartOptimizer.Create(new OptimizerSettings(OptimizerKind.Sgd, Momentum: 0.9), 0, parameters);
        Assert.False(sgd.StepsFromSums);
        Assert.Throws<NotSupportedException>(() => sgd.Step(1e-2, new GradientBuffer([parameters], 0), 1f));
    }
}
