using System.Diagnostics;
using System.Runtime.InteropServices;
using ElasticTrain.Collectives;
using ElasticTrain.Collectives.Transport;
using ElasticTrain.Models;
using static TorchSharp.torch;

namespace ElasticTrain.Ranks.Pipeline;

/// <summary>
/// A pipeline stage's two actions on one micro-batch, with its neighbours: Forward(m) and
/// Backward(m). <see cref="PipelineStage"/> runs them in the schedule's order and keeps what
/// they hold between the two; this class only computes, sends and receives, and counts the time
/// it waited for a neighbour.
/// </summary>
/// <param name="block">The job's context length: an activation is [samples, block, width].</param>
/// <param name="compute">The autocast type of forward and backward; null for fp32.</param>
internal sealed class StagePasses(ModelStage stage, Device device, int block, ScalarType? compute)
{
    /// <summary>Time blocked on neighbours since the caller last set it (to zero, at a step's start).</summary>
    public TimeSpan Waiting { get; set; }

    /// <summary>
    /// Forward(m): the input (token ids here, or activations received from the previous stage,
    /// made a leaf whose gradient backward will send back), the stage's layers, then the output
    /// sent on, or on the last stage the summed loss of the micro-batch's samples.
    /// </summary>
    public (HeldMicroBatch Kept, double? Loss) Forward(MeshPlace place, StageMessage message, (int Offset, int Count) slice,
        Tensor input, Tensor target, PointToPoint stages, SendTracker sent, double lossScale, CancellationToken cancellation)
    {
        using var scope = NewDisposeScope();
        var rows = TensorIndex.Slice(slice.Offset, slice.Offset + slice.Count);
        Tensor? leaf = null;
        if (place.Previous is { } previous)
        {
            var arrived = empty([slice.Count, block, stage.InputWidth!.Value], ScalarType.Float32);
            Receive(stages, previous.Rank, message, Floats(arrived), cancellation);
            leaf = arrived.to(device).requires_grad_(true);
        }
        Tensor output;
        using (Autocast.To(compute))
            output = stage.call(leaf ?? input[rows].to(device));
        if (place.Next is { } following)
        {
            stages.Send(following, message, HostCopy(output), sent, cancellation);
            return (new HeldMicroBatch(leaf?.DetachFromDisposeScope(), output.DetachFromDisposeScope()), null);
        }
        // A sum over samples: divided once by the global batch in Apply, whatever the micro-batch sizes.
        var loss = LanguageModelLoss.SumOfSampleMeans(output, target[rows].to(device));
        var value = loss.item<float>(); // a device sync on an accelerator; the backward needs the graph anyway
        var scaled = lossScale == 1 ? loss : loss.Times(lossScale);
        return (new HeldMicroBatch(leaf?.DetachFromDisposeScope(), scaled.DetachFromDisposeScope()), value);
    }

    /// <summary>
    /// Backward(m): from the loss on the last stage, else from the gradient of the output received
    /// from the next stage; the parameters' gradients accumulate over the micro-batches, and the
    /// input's gradient goes to the previous stage.
    /// </summary>
    public void Backward(MeshPlace place, StageMessage message, HeldMicroBatch kept, PointToPoint stages, SendTracker sent,
        CancellationToken cancellation)
    {
        using var scope = NewDisposeScope();
        if (place.Next is { } following)
        {
            var gradient = empty(kept.Output.shape, ScalarType.Float32);
            Receive(stages, following.Rank, message, Floats(gradient), cancellation);
            kept.Output.backward([gradient.to(device)]);
        }
        else
        {
            kept.Output.backward();
        }
        if (place.Previous is { } previous)
            stages.Send(previous, message, HostCopy(kept.Input!.grad!), sent, cancellation);
    }

    /// <summary>
    /// A managed copy of <paramref name="tensor"/>'s values to send: the link reads it after Send
    /// returns, while backward may already free the tensor's memory, and the garbage collector
    /// keeps the copy alive exactly as long as a queued frame refers to it.
    /// </summary>
    private static float[] HostCopy(Tensor tensor)
    {
        using var host = tensor.detach().contiguous().cpu();
        var values = new float[host.numel()];
        MemoryMarshal.Cast<byte, float>(host.bytes).CopyTo(values);
        return values;
    }

    /// <summary>Receives from a neighbour, counting the time blocked as the stage's wait.</summary>
    private void Receive(PointToPoint stages, string from, StageMessage message, Span<float> target, CancellationToken cancellation)
    {
        var started = Stopwatch.GetTimestamp();
        stages.Receive(from, message, target, cancellation);
        Waiting += Stopwatch.GetElapsedTime(started);
    }

    /// <summary>A CPU float32 tensor's values, to receive into in place.</summary>
    private static Span<float> Floats(Tensor tensor) => MemoryMarshal.Cast<byte, float>(tensor.bytes);
}
