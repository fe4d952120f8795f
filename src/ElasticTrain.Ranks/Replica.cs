using System.Diagnostics;
using ElasticTrain.Checkpointing;
using ElasticTrain.Collectives;
using ElasticTrain.Jobs;
using ElasticTrain.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ElasticTrain.Ranks;

/// <summary>
/// One rank's copy of the model and optimizer, and the step it performs. Lives on the rank's
/// compute thread: nothing here is touched from two threads.
/// </summary>
public sealed class Replica : IDisposable
{
    private readonly JobConfig _job;
    private readonly string _identityHash;
    private readonly Device _device;
    private readonly nn.Module<Tensor, Tensor> _model;
    private readonly AdamW _optimizer;
    private readonly GradientBuffer _gradients;

    /// <summary>Builds the model from the job's seed: every rank of every process gets the same parameters.</summary>
    public Replica(JobConfig job, string identityHash, Device device)
    {
        _job = job;
        _identityHash = identityHash;
        _device = device;
        _model = ModelFactory.Create(SpecOf(job), job.Seed);
        _model.to(device);
        var parameters = _model.parameters().ToList();
        _optimizer = optim.AdamW(parameters, lr: job.LearningRate, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: job.WeightDecay);
        _gradients = new GradientBuffer(parameters);
    }

    public static ModelSpec SpecOf(JobConfig job) =>
        new(job.Model, job.Layers, job.Heads, job.Width, job.Block);

    public long ParameterCount => _gradients.Values.Length;

    public sealed record StepOutcome(double LossSum, double ComputeMs, double ExchangeMs);

    /// <summary>
    /// Forward and backward over this rank's slice, all-reduce of the gradient sums, then the
    /// update with the mean over the global batch. The loss is a sum over the slice's samples, so
    /// the summed gradient divided by the global batch is the same whatever the split.
    /// </summary>
    public StepOutcome Step(long[] tokens, int samples, ICollective collective, ExchangeGroup group, CancellationToken cancellation)
    {
        var clock = Stopwatch.StartNew();
        double lossSum;
        using (NewDisposeScope())
        {
            var (input, target) = Batch.FromWindows(tokens, samples, _job.Block + 1);
            var logits = _model.call(input.to(_device));
            var loss = LanguageModelLoss.SumOfSampleMeans(logits, target.to(_device));
            _optimizer.zero_grad();
            loss.backward();
            lossSum = loss.item<float>();
            _gradients.Gather();
        }
        var computeMs = clock.Elapsed.TotalMilliseconds;

        collective.AllReduceSum(_gradients.Values, group, cancellation);
        var exchangeMs = clock.Elapsed.TotalMilliseconds - computeMs;

        using (NewDisposeScope())
        {
            _gradients.Scatter(1f / _job.GlobalBatch);
            _optimizer.step();
        }
        return new StepOutcome(lossSum, computeMs, exchangeMs);
    }

    /// <summary>Writes model and optimizer state after <paramref name="step"/>; returns the file's SHA-256.</summary>
    public string Save(string path, long step, int world, int epoch)
    {
        var model = new MemoryStream();
        using (var writer = new BinaryWriter(model, System.Text.Encoding.UTF8, leaveOpen: true)) _model.save(writer);
        var optimizer = new MemoryStream();
        using (var writer = new BinaryWriter(optimizer, System.Text.Encoding.UTF8, leaveOpen: true)) _optimizer.save_state_dict(writer);
        var metadata = new CheckpointMetadata(_job.Id, step, _identityHash, step * _job.GlobalBatch, epoch, _job.Seed, world,
            DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        return CheckpointFile.Write(path, metadata, new Dictionary<string, byte[]>
        {
            ["model"] = model.ToArray(),
            ["optimizer"] = optimizer.ToArray(),
        });
    }

    /// <summary>Loads a checkpoint the journal named, refusing one of another job or identity.</summary>
    public void Restore(CheckpointRef checkpoint)
    {
        var contents = CheckpointFile.Read(checkpoint.Path, checkpoint.Sha256);
        var metadata = contents.Metadata;
        if (metadata.IdentityHash != _identityHash || metadata.JobId != _job.Id)
            throw new CheckpointException($"checkpoint '{checkpoint.Path}' belongs to job '{metadata.JobId}' identity {metadata.IdentityHash}, not '{_job.Id}' identity {_identityHash}");
        if (metadata.Step != checkpoint.Step)
            throw new CheckpointException($"checkpoint '{checkpoint.Path}' holds step {metadata.Step}, the journal says {checkpoint.Step}");
        using (var reader = new BinaryReader(new MemoryStream(contents.Sections["model"])))
            _model.load(reader);
        using (var reader = new BinaryReader(new MemoryStream(contents.Sections["optimizer"])))
            _optimizer.load_state_dict(reader);
    }

    public void Dispose()
    {
        _optimizer.Dispose();
        _model.Dispose();
    }
}
