using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ElasticTrain.Ranks.Optimization;

/// <summary>A parameter's state under an Adam-family rule written here: its decay, step count and two moments.</summary>
internal class MomentState(Parameter parameter, double decay)
{
    public Parameter Parameter { get; } = parameter;
    public double Decay { get; } = decay;
    public long Step;
    public Tensor ExpAvg { get; } = zeros_like(parameter).DetachFromDisposeScope();
    public Tensor ExpAvgSq { get; } = zeros_like(parameter).DetachFromDisposeScope();
}

/// <summary>
/// What the Adam-family rules written here (<see cref="Lamb"/>, <see cref="RefreshedMomentAdam"/>)
/// share: each parameter's two moments under torch.optim's slot names, so their checkpoints move
/// between them and AdamW, and how that state is read, loaded and freed.
/// </summary>
internal abstract class MomentOptimizer<TState> : PartOptimizer where TState : MomentState
{
    private readonly Dictionary<IntPtr, TState> _byHandle;

    protected MomentOptimizer(double weightDecay, List<Parameter> decayed, List<Parameter> exempt, Func<Parameter, double, TState> create)
    {
        using var noGrad = no_grad();
        States = [.. decayed.Select(p => create(p, weightDecay)), .. exempt.Select(p => create(p, 0))];
        _byHandle = States.ToDictionary(s => s.Parameter.Handle);
    }

    /// <summary>Every parameter's state: the decayed ones first, as torch.optim's groups order them.</summary>
    protected IReadOnlyList<TState> States { get; }

    public override IReadOnlyList<string> SlotNames { get; } = ["exp_avg", "exp_avg_sq"];

    public override void ZeroGrad()
    {
        foreach (var state in States)
        {
            using var grad = state.Parameter.grad;
            grad?.zero_();
        }
    }

    public override LiveState StateOf(Parameter parameter)
    {
        var state = Find(parameter);
        return new LiveState(state.Step, [("exp_avg", state.ExpAvg), ("exp_avg_sq", state.ExpAvgSq)]);
    }

    public override void Load(Parameter parameter, long step, IReadOnlyDictionary<string, Tensor> slots)
    {
        var state = Find(parameter);
        using var noGrad = no_grad();
        state.ExpAvg.copy_(slots["exp_avg"]);
        state.ExpAvgSq.copy_(slots["exp_avg_sq"]);
        state.Step = step;
    }

    public override void Dispose()
    {
        foreach (var state in States)
        {
            state.ExpAvg.Dispose();
            state.ExpAvgSq.Dispose();
        }
    }

    protected TState Find(Parameter parameter) =>
        _byHandle.TryGetValue(parameter.Handle, out var state)
            ? state
            : throw new ArgumentException("not a parameter this optimizer updates", nameof(parameter));
}
