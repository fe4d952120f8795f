using static TorchSharp.torch;

namespace ElasticTrain.Ranks.Pipeline;

/// <summary>
/// What a stage's Forward(m) keeps for its Backward(m): the output whose graph backward runs
/// through (the summed loss on the last stage) and, except on the first stage, the received input
/// as a leaf that requires grad, where backward leaves the gradient to send back. Both are outside
/// any dispose scope from forward to backward; the graph holds the intermediates alive, so this is
/// the activation memory the schedule's in-flight bound is about.
/// </summary>
internal sealed class HeldMicroBatch(Tensor? input, Tensor output) : IDisposable
{
    public Tensor? Input { get; } = input;

    public Tensor Output { get; } = output;

    /// <summary>
    /// The bytes of the held boundary tensors (input and output). The intermediates the graph keeps
    /// alive are not counted: TorchSharp does not expose autograd's saved tensors.
    /// </summary>
    public long BoundaryBytes => (Input?.NumberOfElements ?? 0) * (Input?.ElementSize ?? 0) + Output.NumberOfElements * Output.ElementSize;

    public void Dispose()
    {
        Input?.Dispose();
        Output.Dispose();
    }
}
