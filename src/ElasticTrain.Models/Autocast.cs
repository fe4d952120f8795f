using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ElasticTrain.Models;

/// <summary>
/// Mixed precision the way PyTorch's autocast does it, written out because TorchSharp has none: a
/// per-thread scope (<see cref="To"/>) within which the models' matrix products cast their inputs
/// and weights to the low precision, while norms, softmax and the loss cast to fp32. The weights
/// stay fp32 parameters: the cast is an operation in the graph, so backward hands each parameter an
/// fp32 gradient (fp32 master weights, no second copy of the model to keep in step).
/// </summary>
/// <remarks>
/// Outside a scope, or in an fp32 one, every helper is exactly the module's own forward, so fp32
/// training is unchanged bit for bit. Adding a low-precision output to an fp32 residual promotes
/// to fp32, so the residual stream, and what pipeline stages send each other, stays fp32 as under
/// PyTorch's autocast. Per thread because a rank's forward runs on its own compute thread; the
/// cost is a cast of each weight per forward (as autocast's, cached per iteration there).
/// </remarks>
public static class Autocast
{
    [ThreadStatic] private static ScalarType? _compute;

    /// <summary>The low precision of this thread's scope; null outside one, or in an fp32 one.</summary>
    public static ScalarType? Compute => _compute;

    /// <summary>Runs the models' forwards in <paramref name="dtype"/> until disposed (null or Float32: fp32, the identity).</summary>
    public static IDisposable To(ScalarType? dtype)
    {
        var previous = _compute;
        _compute = dtype == ScalarType.Float32 ? null : dtype;
        return new Restore(previous);
    }

    /// <summary><paramref name="layer"/> applied in the scope's precision.</summary>
    public static Tensor Linear(Linear layer, Tensor x)
    {
        if (_compute is not { } dtype) return layer.forward(x);
        using var weight = layer.weight!.to(dtype);
        using var bias = layer.bias?.to(dtype);
        return nn.functional.linear(x.to(dtype), weight, bias);
    }

    /// <summary><paramref name="norm"/> applied in fp32, whatever the input's precision.</summary>
    public static Tensor Norm(LayerNorm norm, Tensor x) => norm.forward(_compute is null ? x : x.to(ScalarType.Float32));

    /// <summary>Softmax over <paramref name="dim"/> in fp32, returned in the scope's precision.</summary>
    public static Tensor Softmax(Tensor scores, long dim) =>
        _compute is { } dtype ? scores.to(ScalarType.Float32).softmax(dim).to(dtype) : scores.softmax(dim);

    /// <summary>Logits as the loss takes them: fp32.</summary>
    public static Tensor Fp32(Tensor x) => x.dtype == ScalarType.Float32 ? x : x.to(ScalarType.Float32);

    private sealed class Restore(ScalarType? previous) : IDisposable
    {
        public void Dispose() => _compute = previous;
    }
}
