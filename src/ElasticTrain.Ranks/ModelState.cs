using ElasticTrain.Checkpointing;
using TorchSharp;
using ElasticTrain.Ranks.Optimization;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ElasticTrain.Ranks;

/// <summary>
/// Takes parameters and their optimizer state out of a model (the whole model or a pipeline stage)
/// as a <see cref="NamedState"/>, and puts them into another, matching by parameter name: how state
/// moves between ranks whose layers differ, and how a checkpoint of any mesh loads into any other.
/// </summary>
/// <remarks>
/// Values are copied in place (parameters under no_grad, slots with copy_), so the optimizer keeps
/// its own tensors and the parameters stay the ones it updates. The copies are exact: a model given
/// the state of another computes the next step bit for bit as the other does.
/// </remarks>
public static class ModelState
{
    /// <summary>
    /// The state of <paramref name="names"/> (all the model holds when null), copied to host memory.
    /// </summary>
    /// <exception cref="CheckpointException">A name the model does not hold; the message names it.</exception>
    public static NamedState Export(nn.Module model, PartOptimizer optimizer, IEnumerable<string>? names = null)
    {
        var held = Held(model);
        var wanted = names?.Distinct(StringComparer.Ordinal).ToList() ?? [.. held.Keys];
        using var scope = NewDisposeScope();
        return new NamedState(wanted.Select(name =>
        {
            if (!held.TryGetValue(name, out var parameter))
                throw new CheckpointException($"the model holds no parameter '{name}'");
            return StateOf(name, parameter, optimizer);
        }));
    }

    /// <summary><paramref name="parameter"/>'s values and optimizer state as bytes under <paramref name="name"/>; within the caller's dispose scope.</summary>
    internal static ParameterState StateOf(string name, Parameter parameter, PartOptimizer optimizer)
    {
        var state = optimizer.StateOf(parameter);
        return new ParameterState(name, ToBytes(parameter), state.Step, [.. state.Slots.Select(s => new StateSlot(s.Slot, ToBytes(s.Tensor)))]);
    }

    /// <summary>
    /// Gives every parameter <paramref name="model"/> holds its values and optimizer state from
    /// <paramref name="state"/>, which may hold more (a whole checkpoint loaded into one stage).
    /// Everything is checked before anything is copied, so a refused import leaves the model as it was.
    /// </summary>
    /// <exception cref="CheckpointException">A parameter of the model is missing from the state, has another element type or shape there, or state of another optimizer; the message names it.</exception>
    public static void Import(nn.Module model, PartOptimizer optimizer, NamedState state)
    {
        var held = Held(model);
        foreach (var (name, parameter) in held)
        {
            var entry = state[name];
            Check(name, "values", parameter, entry.Value);
            CheckSlots(entry, optimizer);
            foreach (var slot in entry.Slots) Check(name, slot.Name, parameter, slot.Tensor);
        }
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        foreach (var (name, parameter) in held)
        {
            var entry = state[name];
            parameter.copy_(FromBytes(entry.Value));
            optimizer.Load(parameter, entry.Step, entry.Slots.ToDictionary(s => s.Name, s => FromBytes(s.Tensor)));
        }
    }

    /// <summary>Refuses state of another rule: slots <paramref name="optimizer"/> does not keep, or lacks one it must have.</summary>
    /// <exception cref="CheckpointException">The slots differ; the message names the parameter.</exception>
    internal static void CheckSlots(ParameterState entry, PartOptimizer optimizer)
    {
        var given = entry.Slots.Select(s => s.Name).ToList();
        var expected = optimizer.SlotNames;
        if (given.Except(expected).Any() || expected.Except(given).Any(slot => !optimizer.MayLack(slot)))
            throw new CheckpointException(
                $"parameter '{entry.Name}': the state holds optimizer slots [{string.Join(", ", given)}], this job's optimizer keeps [{string.Join(", ", expected)}]: it was written by another optimizer");
    }

    /// <summary>Each parameter of the model by name.</summary>
    internal static Dictionary<string, Parameter> Held(nn.Module model) =>
        model.named_parameters().ToDictionary(p => p.name, p => p.parameter, StringComparer.Ordinal);
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

    /// <summary>Within the caller's dispose scope, if any; the caller has vouched for type, shape and length (<see cref="Check"/>).</summary>
    internal static Tensor FromBytes(TensorBytes bytes)
    {
        var tensor = empty(bytes.Shape, Enum.Parse<ScalarType>(bytes.DType));
        tensor.bytes = bytes.Data;
        return tensor;
    }
}
