using System.Runtime.InteropServices;
using System.Security.Cryptography;
using ElasticTrain.Checkpointing;
using ElasticTrain.Collectives;
using ElasticTrain.Collectives.Transport;
using ElasticTrain.Data;
using ElasticTrain.Jobs;
using ElasticTrain.Pipeline;
using ElasticTrain.Ranks;
using ElasticTrain.Ranks.Pipeline;
using ElasticTrain.Tests.Models;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace ElasticTrain.Tests.Ranks.Pipeline;

/// <summary>
/// A dp x pp mesh of pipeline stages, every rank on its own thread with real in-process links
/// (and TCP between stages where they are apart), trains as one whole replica trained on the same
/// global batches: per step the same loss, the same summed gradient, and after three AdamW steps
/// the same parameters, by name.
/// </summary>
/// <remarks>
/// Tolerances, relative: 1e-4 on each step's loss (the sum over replicas of the last stages' loss
/// sums); 1e-5 per parameter (||a - b|| / ||b||) on the mean gradient each step applied and on the
/// values after the last step. What differs is the order of float32 sums over samples, micro-batches
/// and replicas; the largest errors seen are about 1e-7 on the loss and 1e-6 on gradients and
/// parameters (printed per case). The gradient is compared before AdamW turns it into an update,
/// which would hide a constant factor (Adam's update is nearly scale-invariant), so a micro-batch
/// or replica scaling off by any factor fails there (doubling the last stage's loss fails every
/// case at step 1); the global batch of 7 splits unevenly into replicas and micro-batches, so a
/// scaling right only for equal parts fails as well.
/// </remarks>
public sealed class PipelineStageTests(ITestOutputHelper output) : IDisposable
{
    private const int Steps = 3;
    private const double LossTolerance = 1e-4, Tolerance = 1e-5;
    private const long BucketBytes = 4096; // several buckets per stage, so they go during the last backward
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);
    private readonly List<IDisposable> _owned = [];
    private readonly byte[] _secret = RandomNumberGenerator.GetBytes(32);

    private static JobConfig Job(string model) => new("pipeline-test", model, Layers: 2, Heads: 2, Width: 16, Block: 8,
        GlobalBatch: 7, Steps: Steps, LearningRate: 1e-3, WeightDecay: 0.01, Seed: 11, DataPath: "", CheckpointEvery: 100);

    /// <summary>
    /// Model, replicas R, stages P, micro-batches M (below, equal to and above P), schedule, and
    /// whether each stage index has its own transport (activations over TCP, the all-reduce local).
    /// GPT with 2 blocks has 4 pipeline layers, the MLP 3.
    /// </summary>
    public static TheoryData<string, int, int, int, ScheduleKind, bool> Meshes()
    {
        var data = new TheoryData<string, int, int, int, ScheduleKind, bool>();
        foreach (var kind in Enum.GetValues<ScheduleKind>())
        {
            foreach (var m in new[] { 1, 2, 3 }) data.Add("gpt", 1, 2, m, kind, false);
            foreach (var m in new[] { 1, 2, 4 }) data.Add("gpt", 2, 2, m, kind, false); // M = 4 on a slice of 3: three micro-batches
            foreach (var m in new[] { 2, 4, 5 }) data.Add("gpt", 1, 4, m, kind, false);
            foreach (var m in new[] { 1, 2 }) data.Add("gpt", 3, 1, m, kind, false);
            data.Add("mlp", 1, 3, 2, kind, false);
            data.Add("gpt", 2, 2, 3, kind, true);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Meshes))]
    public async Task A_mesh_of_stages_trains_as_one_whole_replica_on_the_same_global_batches(
        string model, int replicas, int stages, int microBatches, ScheduleKind schedule, bool stagesApart)
    {
        var job = Job(model);
        var window = job.Block + 1;
        var partition = StagePartition.Balanced([.. Enumerable.Repeat(1.0, Replica.SpecOf(job).PipelineLayers)], stages);
        var batches = Enumerable.Range(1, Steps).Select(step => TestTensors.RandomBytes(step, job.GlobalBatch * window)).ToArray();
        var whole = TrainWholeReplica(job, batches);

        var transports = new Dictionary<int, TensorTransport>();
        var ports = Enumerable.Range(0, replicas).Select(r => Enumerable.Range(0, stages)
            .Select(s => Own(TransportFor(stagesApart ? s : 0).Open($"r{r}s{s}"))).ToArray()).ToArray();
        var members = ports.Select(row => (IReadOnlyList<ExchangeMember>)[.. row.Select(p => new ExchangeMember(p.Rank, p.Address))]).ToArray();
        var slices = SliceSplit.Even(job.GlobalBatch, replicas);
        var losses = new double[Steps, replicas];
        var gradients = new IReadOnlyDictionary<string, float[]>[Steps, stages];
        var states = new IReadOnlyDictionary<string, byte[]>[replicas, stages];

        void RunRank(int r, int s)
        {
            var port = ports[r][s];
            using var stage = new PipelineStage(job, partition, s, CPU, BucketBytes);
            using var exchange = new BucketExchange(new RingAllReduce(port, Timeout), port.Rank, torchThreads: 1);
            var stagePort = new PointToPoint(port, Timeout);
            var place = new MeshPlace(1, members, r, s, schedule, microBatches);
            var (offset, count) = slices[r];
            for (int step = 1; step <= Steps; step++)
            {
                var tokens = batches[step - 1].AsSpan(offset * window, count * window).ToArray();
                var outcome = stage.Exchange(step, tokens, [.. Enumerable.Range(offset, count)], place, stagePort, exchange, Timeout, CancellationToken.None);
                if (place.IsLastStage) losses[step - 1, r] = outcome.LossSum!.Value;
                else Assert.Null(outcome.LossSum);
                // The activations held at once are what the schedule's in-flight bound says.
                Assert.Equal(PipelineSchedule.PeakInFlight(PipelineSchedule.For(schedule, stages, Math.Min(microBatches, count), s)), outcome.PeakHeld);
                Assert.True(outcome.PeakHeldBytes > 0 && outcome.WaitMs <= outcome.SpanMs, outcome.ToString());
                stage.Apply(step, outcome.GradientSquares); // no clipping: the stage's own share will do
                if (r == 0) gradients[step - 1, s] = stage.AppliedGradients();
            }
            states[r, s] = stage.ExportState();
        }

        var ranks = from r in Enumerable.Range(0, replicas)
                    from s in Enumerable.Range(0, stages)
                    select Task.Factory.StartNew(() => RunRank(r, s), TaskCreationOptions.LongRunning);
        await Task.WhenAll(ranks).WaitAsync(TimeSpan.FromSeconds(60));

        double worstLoss = 0, worstGradient = 0, worstParameter = 0;
        for (int step = 0; step < Steps; step++)
        {
            var loss = Enumerable.Range(0, replicas).Sum(r => losses[step, r]);
            var lossError = Math.Abs(loss / whole.Losses[step] - 1);
            Assert.True(lossError <= LossTolerance, $"step {step + 1}: loss {loss} vs {whole.Losses[step]}");
            worstLoss = Math.Max(worstLoss, lossError);

            var gradient = Enumerable.Range(0, stages).SelectMany(s => gradients[step, s]).ToDictionary();
            Assert.Equal(whole.Gradients[step].Keys.Order(), gradient.Keys.Order());
            foreach (var (name, values) in whole.Gradients[step])
            {
                var error = RelativeError(gradient[name], values);
                Assert.True(error <= Tolerance, $"step {step + 1}, {name}: applied gradient off by {error:E2} relative");
                worstGradient = Math.Max(worstGradient, error);
            }
        }
        for (int r = 0; r < replicas; r++)
        {
            var parameters = Enumerable.Range(0, stages).SelectMany(s => Parameters(states[r, s])).ToDictionary();
            Assert.Equal(whole.Parameters.Keys.Order(), parameters.Keys.Order());
            foreach (var (name, values) in whole.Parameters)
            {
                var error = RelativeError(WithoutKeyBias(name, parameters[name], job.Width), WithoutKeyBias(name, values, job.Width));
                Assert.True(error <= Tolerance, $"replica {r}, {name}: relative error {error:E2}");
                worstParameter = Math.Max(worstParameter, error);
            }
        }
        output.WriteLine($"{replicas}x{stages} {model} M={microBatches} {schedule}: worst relative error loss {worstLoss:E1}, "
            + $"gradient {worstGradient:E1}, parameter {worstParameter:E1}");

        TensorTransport TransportFor(int key)
        {
            if (!transports.TryGetValue(key, out var transport))
                transports[key] = transport = Own(new TensorTransport("127.0.0.1", _secret));
            return transport;
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    public async Task A_stage_whose_neighbour_is_gone_fails_the_step_naming_it_instead_of_waiting_forever(int survivor)
    {
        var job = Job("gpt");
        var partition = StagePartition.Balanced([.. Enumerable.Repeat(1.0, Replica.SpecOf(job).PipelineLayers)], 2);
        var transport = Own(new TensorTransport("127.0.0.1", _secret));
        var ports = new[] { Own(transport.Open("r0s0")), Own(transport.Open("r0s1")) };
        IReadOnlyList<IReadOnlyList<ExchangeMember>> grid = [[.. ports.Select(p => new ExchangeMember(p.Rank, p.Address))]];
        ports[1 - survivor].Dispose(); // the neighbour's rank stopped before the step

        var wait = TimeSpan.FromSeconds(1);
        using var stage = new PipelineStage(job, partition, survivor, CPU, BucketBytes);
        using var exchange = new BucketExchange(new RingAllReduce(ports[survivor], wait), "survivor", torchThreads: 1);
        var place = new MeshPlace(1, grid, 0, survivor, ScheduleKind.OneFOneB, 2);
        var tokens = TestTensors.RandomBytes(1, job.GlobalBatch * (job.Block + 1));
        var failure = await Assert.ThrowsAsync<ExchangeFailedException>(() => Task.Factory.StartNew(
            () => stage.Exchange(1, tokens, [.. Enumerable.Range(0, job.GlobalBatch)], place, new PointToPoint(ports[survivor], wait), exchange, wait, CancellationToken.None),
            TaskCreationOptions.LongRunning).WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Contains($"r0s{1 - survivor}", failure.Message);
        Assert.Null(stage.PendingStep);
        output.WriteLine(failure.Message);
    }

    public void Dispose()
    {
        for (int i = _owned.Count - 1; i >= 0; i--) _owned[i].Dispose();
    }

    private sealed record WholeRun(double[] Losses, IReadOnlyDictionary<string, float[]>[] Gradients, Dictionary<string, float[]> Parameters);

    /// <summary>The reference: one replica of the whole model, each step over the whole global batch, alone in its ring.</summary>
    private WholeRun TrainWholeReplica(JobConfig job, long[][] batches)
    {
        var transport = Own(new TensorTransport("127.0.0.1", _secret));
        var port = Own(transport.Open("whole"));
        using var replica = new Replica(job, "hash", CPU, BucketBytes);
        using var exchange = new BucketExchange(new RingAllReduce(port, Timeout), port.Rank, torchThreads: 1);
        var losses = new double[Steps];
        var gradients = new IReadOnlyDictionary<string, float[]>[Steps];
        for (int step = 1; step <= Steps; step++)
        {
            var group = new ExchangeGroup(1, step, 0, [new ExchangeMember(port.Rank, port.Address)]);
            losses[step - 1] = replica.Exchange(step, batches[step - 1], [.. Enumerable.Range(0, job.GlobalBatch)], exchange, group, CancellationToken.None).LossSum;
            replica.Apply(step);
            gradients[step - 1] = replica.AppliedGradients();
        }
        return new WholeRun(losses, gradients, Parameters(replica.ExportState()).ToDictionary());
    }

    private static IEnumerable<KeyValuePair<string, float[]>> Parameters(IReadOnlyDictionary<string, byte[]> sections)
    {
        var state = NamedState.FromSections(sections);
        return state.Names.Select(name => KeyValuePair.Create(name, MemoryMarshal.Cast<byte, float>(state[name].Value.Data).ToArray()));
    }

    /// <summary>
    /// The parameter's values, but for the keys' third of an attention's qkv bias. Adding a vector to
    /// every key adds the same q·b to all of a query's scores, which softmax ignores, so that bias's
    /// exact gradient is zero and what each run computes is rounding noise of about 1e-9; AdamW
    /// divides the noise by its own size and moves the bias by up to the learning rate per step, in
    /// either run, differently. Nothing the pipeline does can be compared there.
    /// </summary>
    private static float[] WithoutKeyBias(string name, float[] values, int width) =>
        name.EndsWith(".qkv.bias", StringComparison.Ordinal) ? [.. values[..width], .. values[(2 * width)..]] : values;

    /// <summary>||a - b|| / ||b||, in double.</summary>
    private static double RelativeError(float[] a, float[] b)
    {
        Assert.Equal(b.Length, a.Length);
        double difference = 0, norm = 0;
        for (int i = 0; i < a.Length; i++)
        {
            difference += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
            norm += (double)b[i] * b[i];
        }
        return Math.Sqrt(difference / norm);
    }

    private T Own<T>(T owned) where T : IDisposable
    {
        _owned.Add(owned);
        return owned;
    }
}
