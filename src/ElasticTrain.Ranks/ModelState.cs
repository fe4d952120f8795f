using ElasticTrain.Checkpointing;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ElasticTrain.Ranks;

/// <summary>
/// Takes parameters and their AdamW state out of a model (the whole model or a pipeline stage) as
/// a <see cref="NamedState"/>, and puts them into another, matching by parameter name: how state
/// moves between ranks whose layers differ, and how a checkpoint of any mesh loads into any other.
/// </summary>
/// <remarks>
/// AdamW keeps one state per parameter, listed by <c>state_dict()</c> in the order of the
/// optimizer's parameters and keyed by parameter handle; the model names the same parameters.
/// Values are copied in place (parameters under no_grad, moments with copy_), so the optimizer keeps
/// its own tensors and the parameters stay the ones it updates. The copies are exact: a model given
/// the state of another computes the next step bit for bit as the other does.
/// </remarks>
public static class ModelState
{
    /// <summary>
    /// The state of <paramref name="names"/> (all the model holds when null), copied to host memory.
    /// </summary>
    /// <exception cref="CheckpointException">A name the model does not hold; the message names it.</exception>
    public static NamedState Export(nn.Module model, AdamW optimizer, IEnumerable<string>? names = null)
    {
        var held = Held(model, optimizer);
        var wanted = names?.Distinct(StringComparer.Ordinal).ToList() ?? [.. held.Keys];
        using var scope = NewDisposeScope();
        return new NamedState(wanted.Select(name =>
        {
            if (!held.TryGetValue(name, out var entry))
                throw new CheckpointException($"the model holds no parameter '{name}'");
            var (parameter, state) = entry;
            return new ParameterState(name, ToBytes(parameter), state.step, ToBytes(state.exp_avg), ToBytes(state.exp_avg_sq));
        }));
    }

    /// <summary>
    /// Each parameter's gradient by name, copied to host memory (empty where it has none): after an
    /// update, the mean gradient it applied, which two meshes of the same job must agree on
    /// name by name however differently they laid it out to exchange it.
    /// </summary>
    internal static IReadOnlyDictionary<string, float[]> Gradients(nn.Module model)
    {
        using var scope = NewDisposeScope();
        return model.named_parameters().ToDictionary(p => p.name, p =>
        {
            var grad = p.parameter.grad;
            if (grad is null) return Array.Empty<float>();
            using var host = grad.detach().contiguous().cpu();
            return host.data<float>().ToArray();
        });
    }

    /// <summary>
    /// Gives every parameter <paramref name="model"/> holds its values and AdamW state from
    /// <paramref name="state"/>, which may hold more (a whole checkpoint loaded into one stage).
    /// Everything is checked before anything is copied, so a refused import leaves the model as it was.
    /// </summary>
    /// <exception cref="CheckpointException">A parameter of the model is missing from the state, or has another element type or shape there; the message names it.</exception>
    public static void Import(nn.Module model, AdamW optimizer, NamedState state)
    {
        var held = Held(model, optimizer);
        foreach (var (name, (parameter, _)) in held)
        {
            var entry = state[name];
            foreach (var (what, bytes) in new[] { ("values", entry.Value), ("exp_avg", entry.ExpAvg), ("exp_avg_sq", entry.ExpAvgSq) })
                Check(name, what, parameter, bytes);
        }
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        foreach (var (name, (parameter, moments)) in held)
        {
            var entry = state[name];
            parameter.copy_(FromBytes(entry.Value));
            moments.exp_avg.copy_(FromBytes(entry.ExpAvg));
            moments.exp_avg_sq.copy_(FromBytes(entry.ExpAvgSq));
            moments.step = entry.Step;
        }
    }

    /// <summary>Each parameter of the model by name, with its AdamW state.</summary>
    internal static Dictionary<string, (Parameter Parameter, AdamW.State State)> Held(nn.Module model, AdamW optimizer)
    {
        var states = optimizer.parameters().Zip(optimizer.state_dict().State)
            .ToDictionary(p => p.First.Handle, p => (AdamW.State)p.Second);
        var held = new Dictionary<string, (Parameter, AdamW.State)>(StringComparer.Ordinal);
        foreach (var (name, parameter) in model.named_parameters())
            held[name] = (parameter, states.TryGetValue(parameter.Handle, out var state)
                ? state
                : throw new ArgumentException($"parameter '{name}' is not one the optimizer updates", nameof(optimizer)));
        return held;
    }

    private static void Check(string name, string what, Parameter parameter, TensorBytes bytes)
    {
        var dtype = parameter.dtype.ToString();
        if (bytes.DType != dtype || !bytes.Shape.AsSpan().SequenceEqual(parameter.shape))
            throw new CheckpointException(
                $"parameter '{name}': the state's {what} are {bytes.DType} {bytes.ShapeText}, the model's parameter is {dtype} [{string.Join(", ", parameter.shape)}]");
        long expected = parameter.numel() * parameter.element_size();
        if (bytes.Data.Length != expected)
            throw new CheckpointException($"parameter '{name}': the state's {what} hold {bytes.Data.Length} bytes, {bytes.ShapeText} of {dtype} takes {expected}");
    }

    /// <summary>Within the caller's dispose scope.</summary>
    internal static TensorBytes ToBytes(Tensor tensor)
    {
        var host = tensor.detach().cpu().contiguous();
        return new TensorBytes(tensor.dtype.ToString(), tensor.shape, host.bytes.ToArray());
    }

    /// <summary>Within the caller's dispose scope; <see cref="Check"/> has vouched for type, shape and length.</summary>
    private static Tensor FromBytes(TensorBytes bytes)
    {
        var tensor = empty(bytes.Shape, Enum.Parse<ScalarType>(bytes.DType));
        tensor.bytes = bytes.Data;
        return tensor;
    }
}
