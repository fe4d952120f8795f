using ElasticTrain.Checkpointing;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ElasticTrain.Ranks;

/// <summary>
/// A model part's parameters and AdamW state as they are now, copied tensor to tensor (on the
/// part's device) so that the step after it may change the originals: the cost on the compute
/// thread is three memory copies per parameter. Turning it into bytes, the expensive part, is left
/// to <see cref="ToNamedState"/>, which any thread may call; the snapshot owns its tensors until
/// disposed.
/// </summary>
public sealed class StateSnapshot : IDisposable
{
    private readonly List<(string Name, Tensor Value, long Step, Tensor ExpAvg, Tensor ExpAvgSq)> _entries = [];

    /// <summary>On the thread that owns the model (its compute thread).</summary>
    public StateSnapshot(nn.Module model, AdamW optimizer)
    {
        using var noGrad = no_grad();
        foreach (var (name, (parameter, state)) in ModelState.Held(model, optimizer))
            _entries.Add((name, Copy(parameter), state.step, Copy(state.exp_avg), Copy(state.exp_avg_sq)));
    }

    /// <summary>The snapshot in the named-state format, in host memory; from any thread.</summary>
    public NamedState ToNamedState()
    {
        using var scope = NewDisposeScope();
        return new NamedState(_entries.Select(e =>
            new ParameterState(e.Name, ModelState.ToBytes(e.Value), e.Step, ModelState.ToBytes(e.ExpAvg), ModelState.ToBytes(e.ExpAvgSq))));
    }

    public void Dispose()
    {
        foreach (var (_, value, _, expAvg, expAvgSq) in _entries)
        {
            value.Dispose();
            expAvg.Dispose();
            expAvgSq.Dispose();
        }
        _entries.Clear();
    }

    private static Tensor Copy(Tensor tensor) => tensor.detach().clone().DetachFromDisposeScope();
}
