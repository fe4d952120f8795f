using ElasticTrain.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ElasticTrain.Ranks.Optimization;

/// <summary>
/// LAMB (You et al., ICLR 2020, Algorithm 2, with bias correction): Adam's direction plus decoupled
/// weight decay, scaled per parameter tensor by the trust ratio ||w|| / ||update||, so that every
/// layer moves by about the same fraction of its weights whatever its gradient's scale. TorchSharp
/// has no LAMB (nor does PyTorch), so the rule is written here in tensor operations.
/// </summary>
/// <remarks>
/// Each tensor's trust ratio needs only that tensor's weights and update, so it is the same however
/// the model's layers are spread over ranks and stages: every rank holds whole tensors. A ratio
/// whose weight or update norm is 0 is 1 (the plain Adam step), as in the reference implementations.
/// Parameters exempt from decay still take the trust ratio.
/// </remarks>
internal sealed class Lamb : PartOptimizer
{
    private sealed class State(Parameter parameter, double decay)
    {
        public Parameter Parameter { get; } = parameter;
        public double Decay { get; } = decay;
        public long Step;
        public Tensor ExpAvg { get; } = zeros_like(parameter).DetachFromDisposeScope();
        public Tensor ExpAvgSq { get; } = zeros_like(parameter).DetachFromDisposeScope();
    }

    private readonly OptimizerSettings _settings;
    private readonly List<State> _states;
    private readonly Dictionary<IntPtr, State> _byHandle;

    public Lamb(OptimizerSettings settings, double weightDecay, List<Parameter> decayed, List<Parameter> exempt)
    {
        _settings = settings;
        using var noGrad = no_grad();
        _states = [.. decayed.Select(p => new State(p, weightDecay)), .. exempt.Select(p => new State(p, 0))];
        _byHandle = _states.ToDictionary(s => s.Parameter.Handle);
    }

    public override IReadOnlyList<string> SlotNames { get; } = ["exp_avg", "exp_avg_sq"];

    public override void Step(double learningRate)
    {
        double beta1 = _settings.Beta1, beta2 = _settings.Beta2;
        using var noGrad = no_grad();
        foreach (var state in _states)
        {
            using var scope = NewDisposeScope();
            var grad = state.Parameter.grad;
            if (grad is null) continue;
            var weights = state.Parameter;
            state.Step++;
            state.ExpAvg.mul_(beta1).add_(grad, alpha: 1 - beta1);
            state.ExpAvgSq.mul_(beta2).addcmul_(grad, grad, value: 1 - beta2);
            var m = state.ExpAvg / (1 - Math.Pow(beta1, state.Step));
            var v = state.ExpAvgSq / (1 - Math.Pow(beta2, state.Step));
            var update = m / (v.sqrt() + _settings.Eps);
            if (state.Decay != 0) update.add_(weights, alpha: state.Decay);
            var weightNorm = weights.norm().item<float>();
            var updateNorm = update.norm().item<float>();
            var trust = weightNorm > 0 && updateNorm > 0 ? weightNorm / (double)updateNorm : 1.0;
            weights.add_(update, alpha: -learningRate * trust);
        }
    }

    public override void ZeroGrad()
    {
        foreach (var state in _states)
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
        foreach (var state in _states)
        {
            state.ExpAvg.Dispose();
            state.ExpAvgSq.Dispose();
        }
    }

    private State Find(Parameter parameter) =>
        _byHandle.TryGetValue(parameter.Handle, out var state)
            ? state
            : throw new ArgumentException("not a parameter this optimizer updates", nameof(parameter));
}
