using System.Diagnostics;
using ElasticTrain.Checkpointing;
using ElasticTrain.Collectives;
using ElasticTrain.Jobs;
using ElasticTrain.Models;
using ElasticTrain.Ranks.Optimization;
using ElasticTrain.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ElasticTrain.Ranks;

/// <summary>
/// One rank's copy of the model and optimizer, and the step it performs. Lives on the rank's
/// compute thread: nothing here is touched from two threads.
/// </summary>
public sealed partial class Replica : IModelPart
{
    private readonly JobConfig _job;
    private readonly string _identityHash;
    private readonly Device _device;
    private readonly nn.Module<Tensor, Tensor> _model;
    private readonly TrainingRecipe _recipe;
    private readonly UpdateRule _update;
    private readonly GradientBuffer _gradients;
    private double _lossScale = 1; // the pending step's
    private float[]? _pendingMoment; // a top-k job's refreshed second moment, for the pending step's Apply
    private readonly IReportsBackwardProgress? _progress;
    private readonly ISampleDropout? _dropout;

    /// <summary>Builds the model from the job's seed: every rank of every process gets the same parameters.</summary>
    /// <param name="bucketBytes">Gradient bucket size (0: one bucket, exchanged after backward).</param>
    /// <param name="recipe">The optimizer, schedule, clipping, micro-batch size and dropout; null: <see cref="TrainingRecipe.Default"/>.</param>
    public Replica(JobConfig job, string identityHash, Device device, long bucketBytes, TrainingRecipe? recipe = null)
    {
        _job = job;
        _identityHash = identityHash;
        _device = device;
        _recipe = recipe ?? TrainingRecipe.Default;
        _model = ModelFactory.Create(SpecOf(job), job.Seed);
        _model.to(device);
        var parameters = _model.parameters().ToList();
        _update = new UpdateRule(job, _recipe, parameters);
        _progress = _model as IReportsBackwardProgress;
        _dropout = _model as ISampleDropout;
        _gradients = new GradientBuffer(_progress?.BackwardStages() ?? [parameters], bucketBytes / sizeof(float));
    }

    public static ModelSpec SpecOf(JobConfig job) =>
        new(job.Model, job.Layers, job.Heads, job.Width, job.Block);

    /// <param name="ComputeMs">Forward and backward, including the handing over of buckets.</param>
    /// <param name="ExchangeMs">Time the exchange thread spent all-reducing this step's buckets.</param>
    /// <param name="ExposedMs">Time the step waited for the exchange after backward: what overlap did not hide.</param>
    /// <param name="GradientSquares">The squared norm of the step's mean gradient (the whole model's: a replica holds it all).</param>
    public sealed record StepOutcome(double LossSum, double ComputeMs, double ExchangeMs, double ExposedMs, double GradientSquares);

    /// <summary>Every pipeline layer of the model.</summary>
    public LayerRange Layers => new(0, ((ILayeredModel)_model).Layers.Count);


    /// <summary>The last step whose update this replica has applied (0: fresh from the seed).</summary>
    public long AppliedStep { get; private set; }

    /// <summary>The step whose summed gradient sits in the buffer waiting for <see cref="Apply"/>, if any.</summary>
    public long? PendingStep { get; private set; }

    /// <summary>
    /// Forward and backward over this rank's slice, with the all-reduce of the gradient sums
    /// overlapped: each bucket goes to <paramref name="exchange"/> as soon as backward has finished
    /// its gradients. The loss is a sum over the slice's samples, so the summed gradient divided by
    /// the global batch is the same whatever the split. The update itself waits for <see cref="Apply"/>.
    /// </summary>
    /// <param name="tokens">The slice: one window of Block + 1 tokens per sample of <paramref name="sampleIds"/>, in that order.</param>
    /// <param name="sampleIds">The slice's samples: each row's dropout masks are its sample's (see <see cref="SampleMasks"/>).</param>
    /// <param name="lossScale">fp16's loss scale for the step (1 otherwise): the loss is multiplied by it before backward.</param>
    public StepOutcome Exchange(long step, long[] tokens, int[] sampleIds, BucketExchange exchange, ExchangeGroup group, CancellationToken cancellation,
        double lossScale = 1)
    {
        ArgumentNullException.ThrowIfNull(sampleIds);
        if (step != AppliedStep + 1)
            throw new InvalidOperationException($"replica at step {AppliedStep} asked to compute step {step}");
        PendingStep = null;
        _pendingMoment = null;
        exchange.ScaleOwnGradient(OwnMeanScale(sampleIds.Length, lossScale));
        var clock = Stopwatch.StartNew();
        var buckets = _gradients.Buckets;
        int next = 0;
        void SubmitReady(int stage)
        {
            for (; next < buckets.Count && buckets[next].ReadyStage <= stage; next++)
            {
                _gradients.Gather(buckets[next]);
                exchange.Submit(_gradients.Values, buckets[next], group, cancellation);
            }
        }

        double lossSum;
        try
        {
            lossSum = Backward(step, tokens, sampleIds, lossScale, SubmitReady);
            SubmitReady(int.MaxValue);
        }
        catch
        {
            // Buckets already submitted still read the buffer: let them finish (or fail) first.
            try { exchange.WaitAll(); } catch (Exception e) when (e is not OutOfMemoryException) { } // the first failure is the one to report
            throw;
        }
        var computeMs = clock.Elapsed.TotalMilliseconds;

        var exchangeMs = exchange.WaitAll();
        _pendingMoment = exchange.TakeSecondMoment(step);
        PendingStep = step;
        GradientSquares = _update.Squares(_gradients, lossScale);
        _lossScale = lossScale;
        return new StepOutcome(lossSum, computeMs, exchangeMs, clock.Elapsed.TotalMilliseconds - computeMs, GradientSquares);
    }

    /// <summary>
    /// Forward and backward over this rank's slice with no exchange: the slice's gradient sums stay
    /// in the parameters' <c>.grad</c> for a parameter server to take (<see cref="NamedParameters"/>),
    /// and the update comes back as values (<see cref="Pulled"/>).
    /// </summary>
    /// <param name="stale">The values may be older than the step before (ssp, asp): any step after the applied one is computed.</param>
    public StepOutcome Compute(long step, long[] tokens, int[] sampleIds, double lossScale = 1, bool stale = false)
    {
        ArgumentNullException.ThrowIfNull(sampleIds);
        if (stale ? step <= AppliedStep : step != AppliedStep + 1)
            throw new InvalidOperationException($"replica at step {AppliedStep} asked to compute step {step}");
        PendingStep = null;
        var clock = Stopwatch.StartNew();
        var lossSum = Backward(step, tokens, sampleIds, lossScale, stageCompleted: null);
        PendingStep = step;
        return new StepOutcome(lossSum, clock.Elapsed.TotalMilliseconds, 0, 0, 0);
    }

    /// <summary>
    /// The passes over a slice: at most micro-batch-size samples each, their gradients adding up in
    /// the parameters' <c>.grad</c>. Only the last pass's backward reports its finished stages to
    /// <paramref name="stageCompleted"/> (to hand buckets over as it goes). Returns the slice's loss sum.
    /// </summary>
    private double Backward(long step, long[] tokens, int[] sampleIds, double lossScale, Action<int>? stageCompleted)
    {
        var clock = Stopwatch.StartNew();
        double lossSum = 0;
        try
        {
            _update.Optimizer.ZeroGrad();
            var passes = Passes(sampleIds.Length, _recipe.MicroBatchSize);
            int window = _job.Block + 1, done = 0;
            for (int pass = 0; pass < passes.Count; pass++)
            {
                if (pass == passes.Count - 1 && _progress is not null) _progress.StageCompleted = stageCompleted;
                using (NewDisposeScope())
                {
                    var passTokens = passes.Count == 1 ? tokens : tokens.AsSpan(done * window, passes[pass] * window).ToArray();
                    var (input, target) = Batch.FromWindows(passTokens, passes[pass], window);
                    if (_dropout is not null) _dropout.Masks = SampleMasks.For(_recipe.Dropout, _job.Seed, step, sampleIds[done..(done + passes[pass])]);
                    Tensor logits;
                    using (Autocast.To(_update.Compute))
                        logits = _model.call(input.to(_device));
                    var loss = LanguageModelLoss.SumOfSampleMeans(logits, target.to(_device));
                    (lossScale == 1 ? loss : loss.Times(lossScale)).backward();
                    lossSum += loss.item<float>();
                }
                done += passes[pass];
            }
            // A node made slower on purpose (elastictrain.debug.slowdown) waits here, as a slower machine would compute.
            if (Slowdown > 1) Thread.Sleep(TimeSpan.FromMilliseconds(clock.Elapsed.TotalMilliseconds * (Slowdown - 1)));
        }
        finally
        {
            if (_progress is not null) _progress.StageCompleted = null;
            if (_dropout is not null) _dropout.Masks = null;
        }
        return lossSum;
    }

    /// <summary>How many times longer than it takes forward and backward last (<c>elastictrain.debug.slowdown</c>, for benchmarks); 1: as they take.</summary>
    public double Slowdown { get; set; } = 1;

    /// <summary>The model's parameters by name, as a parameter server's pieces name them; their values and gradients are read and written in place.</summary>
    public IReadOnlyDictionary<string, Tensor> NamedParameters =>
        _model.named_parameters().ToDictionary(p => p.name, p => (Tensor)p.parameter, StringComparer.Ordinal);

    /// <summary>The values of step <paramref name="step"/> have been written into the parameters (pulled from a parameter server).</summary>
    public void Pulled(long step)
    {
        PendingStep = null;
        AppliedStep = step;
    }

    /// <summary>
    /// The summed per-sample loss of <paramref name="samples"/> windows, forward only: no gradient is
    /// kept and the model is in eval mode meanwhile, so nothing of the training state changes. The
    /// windows run in passes of at most micro-batch-size (else the global batch), so an evaluation
    /// never holds more activations than a step.
    /// </summary>
    public double Evaluate(long[] tokens, int samples)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        if (samples == 0) return 0;
        int window = _job.Block + 1, done = 0;
        double lossSum = 0;
        using var noGrad = no_grad();
        _model.eval();
        try
        {
            foreach (var pass in Passes(samples, _recipe.MicroBatchSize ?? _job.GlobalBatch))
            {
                using var scope = NewDisposeScope();
                var (input, target) = Batch.FromWindows(tokens.AsSpan(done * window, pass * window).ToArray(), pass, window);
                lossSum += LanguageModelLoss.SumOfSampleMeans(_model.call(input.to(_device)), target.to(_device)).item<float>();
                done += pass;
            }
        }
        finally
        {
            _model.train();
        }
        return lossSum;
    }

    /// <summary>
    /// How many samples each pass over a slice of <paramref name="samples"/> runs: one pass when no
    /// micro-batch size is set or the slice fits, else passes as even as can be, none above the size.
    /// </summary>
    public static IReadOnlyList<int> Passes(int samples, int? microBatchSize)
    {
        if (microBatchSize is not { } size || samples <= size) return [samples];
        int count = (samples + size - 1) / size;
        return [.. Enumerable.Range(0, count).Select(i => samples / count + (i < samples % count ? 1 : 0))];
    }

    /// <summary>What turns a rank's gradient sums over <paramref name="samples"/> samples into its own mean gradient (for a top-k job's own second moment).</summary>
    internal static float OwnMeanScale(int samples, double lossScale) => samples == 0 ? 0 : (float)(1 / (samples * lossScale));

    /// <summary>The squared norm of the pending step's mean gradient (see <see cref="UpdateRule.Squares"/>).</summary>
    public double GradientSquares { get; private set; }

    /// <summary>
    /// Applies the committed step's update (see <see cref="UpdateRule"/>): clipped against
    /// <paramref name="gradientSquares"/>, the whole model's squared gradient norm as the coordinator
    /// summed it; a replica's own <see cref="GradientSquares"/> is that same figure.
    /// </summary>
    public void Apply(long step, double gradientSquares)
    {
        if (PendingStep != step)
            throw new InvalidOperationException($"no exchanged gradient for step {step} (pending: {PendingStep?.ToString() ?? "none"})");
        _update.Apply(step, _gradients, gradientSquares, _lossScale, _pendingMoment);
        _pendingMoment = null;
        PendingStep = null;
        AppliedStep = step;
    }

    /// <summary>Applies the committed step against this replica's own gradient norm (a whole replica holds the whole model).</summary>
    public void Apply(long step) => Apply(step, GradientSquares);

    /// <summary>The summed gradient the last exchange left, before <see cref="Apply"/> scales it (to compare exchanges).</summary>
    internal float[] ExchangedGradient() => (float[])_gradients.Values.Clone();

    /// <summary>The mean gradient the last <see cref="Apply"/> used, by parameter name (to compare meshes).</summary>
    internal IReadOnlyDictionary<string, float[]> AppliedGradients() => _gradients.Scaled(GradientNames, _update.AppliedFactor);

    /// <summary>Every parameter's values, end to end (to compare replicas).</summary>
    internal float[] ParameterValues() =>
        _model.parameters().SelectMany(p => { using var host = p.detach().cpu(); return host.data<float>().ToArray(); }).ToArray();

    /// <summary>Forgets an exchanged but uncommitted update (its generation was aborted).</summary>
    public void DiscardPending()
    {
        PendingStep = null;
        _pendingMoment = null;
    }

    public GradientBuffer Gradients => _gradients;

    public void Dispose()
    {
        _update.Dispose();
        _model.Dispose();
    }
}
