using System.Diagnostics;
using ElasticTrain.Collectives;
using ElasticTrain.Collectives.Transport;
using ElasticTrain.Data;
using ElasticTrain.Jobs;
using ElasticTrain.Models;
using ElasticTrain.Pipeline;
using ElasticTrain.Ranks.Optimization;
using ElasticTrain.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ElasticTrain.Ranks.Pipeline;

/// <summary>
/// One rank's pipeline stage: its layers of the model, their optimizer state and gradient buffer, and
/// the pipelined step it performs. The pipeline counterpart of <see cref="Replica"/>, with the
/// same two-phase step (<see cref="Exchange"/>, then <see cref="Apply"/> once the step is
/// committed) and the same scaling, so that the loss curve does not depend on the mesh. Lives on
/// the rank's compute thread: nothing here is touched from two threads.
/// </summary>
/// <remarks>
/// <para>
/// <b>Targets.</b> Every stage of a replica is given the same slice's token windows, as a replica
/// is: the first stage embeds the inputs, the last scores its logits against the targets, and the
/// stages between use only the slice's size. Loading a few kilobytes of tokens on every stage is
/// cheaper than a third kind of message from the first stage to the last.
/// </para>
/// <para>
/// <b>Threads.</b> Forwards, backwards, receives and the hand-over of gradient buckets run on the
/// caller's thread, in the schedule's order. Sends return once queued, and the link's own thread
/// writes them while the next action computes; a stage waits for its sends only at the end of the
/// step. The gradient all-reduce among the stage's replicas runs on <see cref="BucketExchange"/>'s
/// thread, each bucket as soon as the step's last backward has finished it, overlapping the rest
/// of that backward and the sending of its input gradient.
/// </para>
/// </remarks>
public sealed class PipelineStage : IModelPart
{
    private readonly JobConfig _job;
    private readonly ModelStage _stage;
    private readonly UpdateRule _update;
    private readonly int? _microBatchSize;
    private double _lossScale = 1; // the step's, for the last stage's backward and for Apply
    private float[]? _pendingMoment; // a top-k job's refreshed second moment, for the pending step's Apply
    private readonly double _dropout;
    private readonly GradientBuffer _gradients;
    private readonly StagePasses _passes;

    /// <summary>
    /// Builds stage <paramref name="stage"/> of <paramref name="partition"/> from the job's seed:
    /// its parameters have exactly the values the whole model's replica starts with.
    /// </summary>
    /// <param name="bucketBytes">Gradient bucket size (0: one bucket, exchanged after the step's last backward).</param>
    /// <exception cref="ArgumentException">The partition is not of this job's model's pipeline layers.</exception>
    /// <param name="recipe">The optimizer, schedule, clipping, micro-batch size and dropout; null: <see cref="TrainingRecipe.Default"/>.</param>
    public PipelineStage(JobConfig job, StagePartition partition, int stage, Device device, long bucketBytes, TrainingRecipe? recipe = null)
    {
        ArgumentNullException.ThrowIfNull(job);
        ArgumentNullException.ThrowIfNull(partition);
        var spec = Replica.SpecOf(job);
        if (partition.Layers != spec.PipelineLayers)
            throw new ArgumentException($"The partition splits {partition.Layers} layers; the model has {spec.PipelineLayers} pipeline layers.", nameof(partition));
        _job = job;
        Stage = stage;
        Stages = partition.Stages;
        _stage = new ModelStage(spec, job.Seed, partition.FirstLayer(stage), partition.EndLayer(stage));
        _stage.to(device);
        _update = new UpdateRule(job, recipe ?? TrainingRecipe.Default, [.. _stage.parameters()]);
        _microBatchSize = recipe?.MicroBatchSize;
        _dropout = recipe?.Dropout ?? 0;
        _gradients = new GradientBuffer(_stage.BackwardStages(), bucketBytes / sizeof(float));
        _passes = new StagePasses(_stage, device, job.Block, _update.Compute);
    }

    /// <param name="LossSum">The sum of per-sample mean losses over the replica's slice, on the last stage; null on the others, which see no loss.</param>
    /// <param name="ComputeMs">The schedule's actions, including waits for neighbours (the bubble) and the hand-over of buckets.</param>
    /// <param name="ExchangeMs">Time the exchange thread spent all-reducing this step's buckets.</param>
    /// <param name="ExposedMs">Time the step waited for the exchange after its last backward: what overlap did not hide.</param>
    /// <param name="SpanMs">From the start of the step to the end of the stage's last action (before the wait for its sends and the exchange).</param>
    /// <param name="WaitMs">Time within the span spent waiting for a neighbour's activations or gradients:
    /// the stage's share of the bubble. On stage 0, whose span is the step's, 1 - (span - wait) / span
    /// averaged over stages gives the bubble over the step.</param>
    /// <param name="PeakHeld">The most micro-batches whose activations the stage held at once.</param>
    /// <param name="PeakHeldBytes">The most bytes of held boundary activations (each micro-batch's input and output) at once.</param>
    /// <param name="GradientSquares">This stage's share of the squared norm of the step's mean gradient; the stages' shares add up to the model's.</param>
    public sealed record StepOutcome(double? LossSum, double ComputeMs, double ExchangeMs, double ExposedMs,
        double SpanMs, double WaitMs, int PeakHeld, long PeakHeldBytes, double GradientSquares);

    public int Stage { get; }

    public int Stages { get; }

    /// <summary>The last step whose update this stage has applied (0: fresh from the seed).</summary>
    public long AppliedStep { get; private set; }

    /// <summary>The step whose summed gradient sits in the buffer waiting for <see cref="Apply"/>, if any.</summary>
    public long? PendingStep { get; private set; }

    /// <summary>The names of the parameters this stage holds, as the whole model names them.</summary>
    public IReadOnlyList<string> ParameterNames => [.. _stage.named_parameters().Select(p => p.name)];

    /// <summary>The model's pipeline layers this stage holds.</summary>
    public LayerRange Layers => new(_stage.FirstLayer, _stage.EndLayer);

    /// <summary>
    /// Runs this stage's part of step <paramref name="step"/> for its replica's slice: the
    /// schedule's forwards and backwards over the slice's micro-batches, activations and their
    /// gradients to and from the neighbouring stages through <paramref name="stages"/>, the
    /// gradient sums accumulated over the micro-batches and all-reduced among the stage's
    /// replicas. The update waits for <see cref="Apply"/>.
    /// </summary>
    /// <param name="tokens">The replica's slice: one window of Block + 1 tokens per sample of <paramref name="sampleIds"/> (see the class remarks).</param>
    /// <param name="sampleIds">The slice's samples, in row order: every stage takes micro-batch m's for its dropout masks, so the stages of a replica drop alike.</param>
    /// <param name="timeout">How long the step may wait for its sends to be taken at its end.</param>
    /// <exception cref="ExchangeFailedException">A neighbour or a replica of the stage failed, or did not answer in time.</exception>
    /// <param name="lossScale">fp16's loss scale for the step (1 otherwise): the last stage multiplies its loss by it before backward.</param>
    public StepOutcome Exchange(long step, long[] tokens, int[] sampleIds, MeshPlace place, PointToPoint stages, BucketExchange exchange,
        TimeSpan timeout, CancellationToken cancellation, double lossScale = 1)
    {
        ArgumentNullException.ThrowIfNull(place);
        ArgumentNullException.ThrowIfNull(sampleIds);
        int samples = sampleIds.Length;
        if (step != AppliedStep + 1)
            throw new InvalidOperationException($"stage at step {AppliedStep} asked to compute step {step}");
        if (place.Stage != Stage || place.Stages != Stages)
            throw new ArgumentException($"The place is stage {place.Stage} of {place.Stages}; this is stage {Stage} of {Stages}.", nameof(place));
        PendingStep = null;
        _pendingMoment = null;
        _lossScale = lossScale;
        exchange.ScaleOwnGradient(Replica.OwnMeanScale(samples, lossScale));
        var clock = Stopwatch.StartNew();

        // At least one sample per micro-batch: a slice smaller than M runs as many micro-batches as it
        // has samples. More than M where micro-batch-size caps a micro-batch's samples: every stage
        // of the replica has the same slice and settings, so all count alike.
        var wanted = _microBatchSize is { } size ? Math.Max(place.MicroBatches, (samples + size - 1) / size) : place.MicroBatches;
        var slices = SliceSplit.Even(samples, Math.Min(wanted, samples));
        var actions = PipelineSchedule.For(place.Schedule, Stages, slices.Count, Stage);
        // The micro-batch whose backward comes last completes the step's gradients: only its graph
        // reports backward's progress, so each bucket goes to the exchange once it holds the sum
        // over every micro-batch.
        var finishing = actions[^1].MicroBatch;
        var group = place.StageGroup(step);
        var buckets = _gradients.Buckets;
        int next = 0;
        void SubmitReady(int completed)
        {
            for (; next < buckets.Count && buckets[next].ReadyStage <= completed; next++)
            {
                _gradients.Gather(buckets[next]);
                exchange.Submit(_gradients.Values, buckets[next], group, cancellation);
            }
        }

        var held = new HeldMicroBatch?[slices.Count];
        int heldCount = 0, peakHeld = 0;
        long heldBytes = 0, peakHeldBytes = 0;
        _passes.Waiting = TimeSpan.Zero;
        var sent = new SendTracker();
        double? lossSum = place.IsLastStage ? 0 : null;
        double spanMs;
        try
        {
            using (NewDisposeScope())
            {
                var (input, target) = Batch.FromWindows(tokens, samples, _job.Block + 1);
                _update.Optimizer.ZeroGrad();
                foreach (var action in actions)
                {
                    var m = action.MicroBatch;
                    if (action.Kind == PipelineActionKind.Forward)
                    {
                        _stage.StageCompleted = m == finishing ? SubmitReady : null;
                        _stage.Masks = SampleMasks.For(_dropout, _job.Seed, step, sampleIds[slices[m].Offset..(slices[m].Offset + slices[m].Count)]);
                        var message = new StageMessage(place.Generation, step, PipelinePass.Forward, m);
                        var (kept, loss) = _passes.Forward(place, message, slices[m], input, target, stages, sent, lossScale, cancellation);
                        held[m] = kept;
                        lossSum += loss;
                        heldCount++;
                        heldBytes += kept.BoundaryBytes;
                        peakHeld = Math.Max(peakHeld, heldCount);
                        peakHeldBytes = Math.Max(peakHeldBytes, heldBytes);
                    }
                    else
                    {
                        using var kept = held[m] ?? throw new InvalidOperationException($"the schedule runs Backward({m}) before Forward({m})");
                        held[m] = null;
                        heldCount--;
                        heldBytes -= kept.BoundaryBytes;
                        _passes.Backward(place, new StageMessage(place.Generation, step, PipelinePass.Backward, m), kept, stages, sent, cancellation);
                    }
                }
            }
            spanMs = clock.Elapsed.TotalMilliseconds;
            SubmitReady(int.MaxValue);
            sent.WaitAll(timeout);
        }
        catch
        {
            // Buckets already submitted still read the buffer: let them finish (or fail) first.
            try { exchange.WaitAll(); } catch (Exception e) when (e is not OutOfMemoryException) { } // the first failure is the one to report
            throw;
        }
        finally
        {
            _stage.StageCompleted = null;
            _stage.Masks = null;
            foreach (var kept in held) kept?.Dispose();
        }
        var computeMs = clock.Elapsed.TotalMilliseconds;

        var exchangeMs = exchange.WaitAll();
        _pendingMoment = exchange.TakeSecondMoment(step);
        PendingStep = step;
        return new StepOutcome(lossSum, computeMs, exchangeMs, clock.Elapsed.TotalMilliseconds - computeMs,
            spanMs, _passes.Waiting.TotalMilliseconds, peakHeld, peakHeldBytes, _update.Squares(_gradients, lossScale));
    }

    /// <summary>
    /// Applies the committed step's update as <see cref="Replica.Apply(long, double)"/> does, clipped against
    /// <paramref name="gradientSquares"/>: the squared norm of the whole model's mean gradient, which
    /// the coordinator summed over the stages.
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

    /// <summary>
    /// The mean gradient the last <see cref="Apply"/> used, by whole-model parameter name: the same
    /// as a whole replica's for these parameters (to compare meshes).
    /// </summary>
    internal IReadOnlyDictionary<string, float[]> AppliedGradients() => _gradients.Scaled(GradientNames, _update.AppliedFactor);

    /// <summary>Forgets an exchanged but uncommitted update (its generation was aborted).</summary>
    public void DiscardPending()
    {
        PendingStep = null;
        _pendingMoment = null;
    }

    /// <summary>
    /// The parameters and optimizer state of <paramref name="names"/> (all when null) in the
    /// <see cref="Checkpointing.NamedState"/> format, by whole-model name, so any mesh can load them.
    /// </summary>
    public IReadOnlyDictionary<string, byte[]> ExportState(IEnumerable<string>? names = null) =>
        ModelState.Export(_stage, _update.Optimizer, names).ToSections();

    public GradientBuffer Gradients => _gradients;

    public IReadOnlyList<string> GradientNames => _gradientNames ??= Compression.ResidualTransfer.NamesOf(_gradients, _stage);

    private IReadOnlyList<string>? _gradientNames;

    public StateSnapshot Snapshot() => new(_stage, _update.Optimizer);

    /// <summary>
    /// Loads every parameter this stage holds, by name, from sections that may hold more (the whole
    /// model's, or several stages' merged); the stage is then at <paramref name="step"/>.
    /// </summary>
    /// <exception cref="Checkpointing.CheckpointException">A parameter is missing or has another shape; the message names it.</exception>
    public void ImportState(IReadOnlyDictionary<string, byte[]> sections, long step)
    {
        ModelState.Import(_stage, _update.Optimizer, Checkpointing.NamedState.FromSections(sections));
        PendingStep = null;
        AppliedStep = step;
    }

    public void Dispose()
    {
        _update.Dispose();
        _stage.Dispose();
    }
}
