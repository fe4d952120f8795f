using static TorchSharp.torch;

namespace ElasticTrain.Models;

/// <summary>
/// An identity in the forward pass whose backward calls back: the gradient with respect to its
/// output is complete only once every operation after it has run its backward, including the
/// accumulation into those operations' parameters (libtorch runs gradient accumulation before
/// any other ready node), so at that moment their gradients are final.
/// </summary>
public sealed class GradientBoundary : autograd.SingleTensorFunction<GradientBoundary>
{
    public override string Name => nameof(GradientBoundary);

    /// <summary>Returns <paramref name="x"/> unchanged; <paramref name="reached"/> runs when backward gets back here.</summary>
    public static Tensor Mark(Tensor x, Action reached) => apply(x, reached);

    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        ctx.save_data("reached", vars[1]);
        return ((Tensor)vars[0]).alias();
    }

    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor grad)
    {
        ((Action)ctx.get_data("reached"))();
        return [grad, null!]; // no gradient for the callback argument
    }
}
