using ElasticTrain.Checkpointing;
using TorchSharp;
using ElasticTrain.Ranks.Optimization;
using static TorchSharp.torch;

namespace ElasticTrain.Ranks;

/// <summary>
/// A model part's parameters and optimizer state as they are now, copied tensor to tensor (on the
/// part's device) so that the step after it may change the originals: the cost on the compute
/// thread is one memory copy per parameter and optimizer slot (three for AdamW). Turning it into bytes, the expensive part, is left
/// to <see cref="ToNamedState"/>, which any thread may call; the snapshot owns its tensors until
/// disposed.
/// </summary>
public sealed class StateSnapshot : IDisposable
{
    private readonly List<(string Name, Tensor Value, long Step, (string Slot, Tensor Tensor)[] Slots)> _entries = [];

    /// <summary>On the thread that owns the model (its compute thread).</summary>
    public StateSnapshot(nn.Module model, PartOptimizer optimizer)
    {
        using var noGrad = no_grad();
        foreach (var (name, parameter) in ModelState.Held(model))
        {
            var state = optimizer.StateOf(parameter);
            _entries.Add((name, Copy(parameter), state.Step, [.. state.Slots.Select(s => (s.Slot, Copy(s.Tensor)))]));
        }
    }

    /// <summary>The snapshot in the named-state format, in host memory; from any thread.</summary>
    public NamedState ToNamedState()
    {
        using var scope = NewDisposeScope();
        return new NamedState(_entries.Select(e =>
            new ParameterState(e.Name, ModelState.ToBytes(e.Value), e.Step, [.. e.Slots.Select(s => new StateSlot(s.Slot, ModelState.ToBytes(s.Tensor)))])));
    }

    public void Dispose()
    {
        foreach (var (_, value, _, slots) in _entries)
        {
            value.Dispose();
            foreach (var (_, tensor) in slots) tensor.Dispose();
        }
        _entries.Clear();
    }

    private static Tensor Copy(Tensor tensor) => tensor.detach().clone().DetachFromDisposeScope();
}
