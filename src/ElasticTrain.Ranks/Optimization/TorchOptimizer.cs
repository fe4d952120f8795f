using ElasticTrain.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ElasticTrain.Ranks.Optimization;

/// <summary>
/// A rule TorchSharp's <c>torch.optim</c> has (AdamW, Adam, SGD, AdaGrad, RMSprop), run by it:
/// two parameter groups (decayed, and exempt from decay), the learning rate set on both before
/// each step, and each parameter's state read from and written into TorchSharp's own per-rule
/// state objects by slot name. AdamW on float32 tensors in memory steps by a pass of ours over
/// that same state (<see cref="AdamWKernel"/>), the same arithmetic in one pass instead of nine,
/// reading the gradient from the exchange's sums where it is given them.
/// </summary>
internal sealed class TorchOptimizer : PartOptimizer
{
    private readonly OptimizerHelper _optimizer;
    private readonly OptimizerKind _kind;
    private readonly Dictionary<IntPtr, OptimizerState> _states;
    private readonly string[] _slots;
    private readonly bool _adamWInPlace; // AdamW over float32 tensors in memory: stepped by AdamWKernel

    private TorchOptimizer(OptimizerHelper optimizer, OptimizerKind kind, string[] slots)
    {
        _optimizer = optimizer;
        _kind = kind;
        _slots = slots;
        // state_dict() lists the live state objects in the order of parameters(), group by group.
        _states = optimizer.parameters().Zip(optimizer.state_dict().State).ToDictionary(p => p.First.Handle, p => p.Second);
        // Decided once: a part's parameters are on their device, in float32, before its rule is made.
        _adamWInPlace = kind == OptimizerKind.AdamW
            && optimizer.parameters().All(p => p.device_type == DeviceType.CPU && p.dtype == ScalarType.Float32 && p.is_contiguous());
    }

    public static TorchOptimizer Create(OptimizerSettings s, double weightDecay, List<Parameter> decayed, List<Parameter> exempt)
    {
        // One group per list that has parameters, the decayed first: with every parameter decayed
        // (the default), this is the single group every earlier job ran with.
        IEnumerable<(List<Parameter> Parameters, double Decay)> Groups() =>
            new[] { (decayed, weightDecay), (exempt, 0.0) }.Where(g => g.Item1.Count > 0);
        const double lr = 1; // set before every step
        return s.Kind switch
        {
            OptimizerKind.AdamW => new(optim.AdamW(Groups().Select(g => new AdamW.ParamGroup(g.Parameters, lr, s.Beta1, s.Beta2, s.Eps, g.Decay)).ToList(),
                lr, s.Beta1, s.Beta2, s.Eps, weightDecay), s.Kind, ["exp_avg", "exp_avg_sq"]),
            OptimizerKind.Adam => new(optim.Adam(Groups().Select(g => new Adam.ParamGroup(g.Parameters, lr, s.Beta1, s.Beta2, s.Eps, g.Decay)).ToList(),
                lr, s.Beta1, s.Beta2, s.Eps, weightDecay), s.Kind, ["exp_avg", "exp_avg_sq"]),
            OptimizerKind.Sgd => new(optim.SGD(Groups().Select(g => new SGD.ParamGroup(g.Parameters, lr, s.Momentum, s.Dampening, g.Decay, s.Nesterov)).ToList(),
                lr, s.Momentum, s.Dampening, weightDecay, s.Nesterov), s.Kind, s.Momentum > 0 ? ["momentum_buffer"] : []),
            OptimizerKind.AdaGrad => new(optim.Adagrad(Groups().Select(g => new Adagrad.ParamGroup(g.Parameters, lr, s.LrDecay, g.Decay, s.InitialAccumulator, s.Eps)).ToList(),
                lr, s.LrDecay, weightDecay, s.InitialAccumulator, s.Eps), s.Kind, ["sum"]),
            OptimizerKind.RmsProp => new(optim.RMSProp(Groups().Select(g => new RMSProp.ParamGroup(g.Parameters, lr, s.Eps, s.Alpha, g.Decay, s.Momentum, s.Centered)).ToList(),
                lr, s.Alpha, s.Eps, weightDecay, s.Momentum, s.Centered), s.Kind,
                [.. new[] { "square_avg" }.Concat(s.Momentum > 0 ? ["momentum_buffer"] : []).Concat(s.Centered ? ["grad_avg"] : [])]),
            _ => throw new ArgumentException($"torch.optim has no {s.Kind}; it is ours", nameof(s)),
        };
    }

    public override IReadOnlyList<string> SlotNames => _slots;

    public override void Step(double learningRate)
    {
        foreach (var group in _optimizer.ParamGroups) group.LearningRate = learningRate;
        if (_adamWInPlace) StepAdamW(learningRate);
        else _optimizer.step();
    }

    public override bool StepsFromSums => _adamWInPlace;

    public override void Step(double learningRate, GradientBuffer sums, float scale)
    {
        if (!_adamWInPlace) throw new NotSupportedException($"{_kind} steps from the parameters' gradients");
        foreach (var group in _optimizer.ParamGroups) group.LearningRate = learningRate;
        StepAdamW(learningRate, sums, scale);
    }

    /// <summary>
    /// AdamW in one pass per tensor (<see cref="AdamWKernel"/>) over TorchSharp's own state, on the
    /// calling thread whatever its intra-op threads, so that the update's bits never depend on
    /// them: one thread does it faster than libtorch's nine passes split between two. The
    /// gradient is each parameter's <c>.grad</c>, or its sums in <paramref name="sums"/> times
    /// <paramref name="scale"/>; a parameter without a gradient is left as it is either way.
    /// </summary>
    private void StepAdamW(double learningRate, GradientBuffer? sums = null, float scale = 1)
    {
        foreach (var group in _optimizer.ParamGroups.Cast<ParamGroup>())
        {
            var options = (AdamW.Options)group.Options;
            foreach (var parameter in group.Parameters)
            {
                using var gradient = parameter.grad;
                if (gradient is null) continue;
                var state = (AdamW.State)State(parameter);
                state.step += 1;
                var scalars = AdamWKernel.Scalars.For(learningRate, options.weight_decay!.Value, options.beta1!.Value, options.beta2!.Value, options.eps!.Value, state.step);
                if (sums is null) AdamWKernel.Step(Floats(parameter), Floats(gradient), Floats(state.exp_avg), Floats(state.exp_avg_sq), scalars);
                else AdamWKernel.Step(Floats(parameter), sums.SumsOf(parameter), scale, Floats(state.exp_avg), Floats(state.exp_avg_sq), scalars);
            }
        }
    }

    private static Span<float> Floats(Tensor tensor) => System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(tensor.bytes);

    public override void ZeroGrad() => _optimizer.zero_grad();

    public override bool MayLack(string slot) => _kind == OptimizerKind.Sgd && slot == "momentum_buffer";

    public override LiveState StateOf(Parameter parameter)
    {
        var state = State(parameter);
        var slots = new List<(string, Tensor)>();
        foreach (var slot in _slots)
            if (Get(state, slot) is { } tensor) slots.Add((slot, tensor));
        return new LiveState(StepOf(state), slots);
    }

    public override void Load(Parameter parameter, long step, IReadOnlyDictionary<string, Tensor> slots)
    {
        var state = State(parameter);
        using var noGrad = no_grad();
        foreach (var slot in _slots)
        {
            var live = Get(state, slot);
            if (slots.TryGetValue(slot, out var given))
            {
                if (live is not null) live.copy_(given);
                else Set(state, slot, given.detach().clone().DetachFromDisposeScope());
            }
            else if (live is not null)
            {
                // Only a slot the rule makes lazily may be absent (see MayLack): the state is from before its first step.
                live.Dispose();
                Set(state, slot, null);
            }
        }
        switch (state)
        {
            case AdamW.State a: a.step = step; break;
            case Adam.State a: a.step = step; break;
            case Adagrad.State a: a.step = step; break;
            case RMSProp.State a: a.step = step; break;
        }
    }

    /// <summary>Reads TorchSharp's own optimizer state format (checkpoints written before state was named), in this optimizer's parameter order.</summary>
    internal void LoadTorchState(BinaryReader reader) => _optimizer.load_state_dict(reader);

    public override void Dispose() => _optimizer.Dispose();

    private OptimizerState State(Parameter parameter) =>
        _states.TryGetValue(parameter.Handle, out var state)
            ? state
            : throw new ArgumentException("not a parameter this optimizer updates", nameof(parameter));

    private static long StepOf(OptimizerState state) => state switch
    {
        AdamW.State a => a.step,
        Adam.State a => a.step,
        Adagrad.State a => a.step,
        RMSProp.State a => a.step,
        _ => 0,
    };

    private static Tensor? Get(OptimizerState state, string slot) => (state, slot) switch
    {
        (AdamW.State a, "exp_avg") => a.exp_avg,
        (AdamW.State a, "exp_avg_sq") => a.exp_avg_sq,
        (Adam.State a, "exp_avg") => a.exp_avg,
        (Adam.State a, "exp_avg_sq") => a.exp_avg_sq,
        (SGD.State a, "momentum_buffer") => a.momentum_buffer,
        (Adagrad.State a, "sum") => a.sum,
        (RMSProp.State a, "square_avg") => a.square_avg,
        (RMSProp.State a, "momentum_buffer") => a.momentum_buffer,
        (RMSProp.State a, "grad_avg") => a.grad_avg,
        _ => throw new ArgumentException($"{state.GetType().Name} has no slot '{slot}'", nameof(slot)),
    };

    /// <summary>Only SGD's momentum is made lazily; every other slot exists from the start and is copied into.</summary>
    private static void Set(OptimizerState state, string slot, Tensor? tensor)
    {
        if (state is SGD.State sgd && slot == "momentum_buffer") sgd.momentum_buffer = tensor!;
        else throw new InvalidOperationException($"{state.GetType().Name}'s slot '{slot}' is made with the optimizer and only copied into");
    }
}
