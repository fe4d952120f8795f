using ElasticTrain.Training;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ElasticTrain.Ranks.Optimization;

/// <summary>One parameter's optimizer state as the rule keeps it: its step count and its slots' live tensors.</summary>
/// <param name="Slots">The rule's tensors by slot name, in the rule's order; a slot not made yet is absent.</param>
public sealed record LiveState(long Step, IReadOnlyList<(string Slot, Tensor Tensor)> Slots);

/// <summary>
/// The job's update rule over a model part's parameters (a whole replica, or a pipeline stage),
/// behind one face whatever the rule: a step at a learning rate the schedule gives, and each
/// parameter's state by slot name, which is how state moves between ranks and into checkpoints.
/// Weight decay skips the parameters of fewer than two dimensions (biases, norms' gains) unless the
/// settings say otherwise. Lives on the part's compute thread.
/// </summary>
public abstract class PartOptimizer : IDisposable
{
    /// <summary>The rule of <paramref name="settings"/> over <paramref name="parameters"/>, in the part's order.</summary>
    /// <param name="moments">A top-k job's Adam(W): where its second moment comes from (<see cref="RefreshedMomentAdam"/>).</param>
    public static PartOptimizer Create(OptimizerSettings settings, double weightDecay, IReadOnlyList<Parameter> parameters, SecondMomentRefresh? moments = null)
    {
        var decayed = parameters.Where(p => settings.DecayBiasesAndNorms || p.dim() >= 2).ToList();
        var exempt = parameters.Where(p => !settings.DecayBiasesAndNorms && p.dim() < 2).ToList();
        if (moments is not null) return new RefreshedMomentAdam(settings, moments, weightDecay, decayed, exempt);
        return settings.Kind == OptimizerKind.Lamb
            ? new Lamb(settings, weightDecay, decayed, exempt)
            : TorchOptimizer.Create(settings, weightDecay, decayed, exempt);
    }

    /// <summary>The slots a parameter's state has once the rule has stepped (SGD without momentum: none).</summary>
    public abstract IReadOnlyList<string> SlotNames { get; }

    /// <summary>Updates every parameter that has a gradient from it, at <paramref name="learningRate"/>.</summary>
    public abstract void Step(double learningRate);

    /// <summary>Whether <see cref="Step(double, GradientBuffer, float)"/> takes the gradient from the exchange's sums: AdamW on float32 tensors in memory.</summary>
    public virtual bool StepsFromSums => false;

    /// <summary>
    /// Updates every parameter that has a gradient, at <paramref name="learningRate"/>, its gradient
    /// being its sums in <paramref name="sums"/> times <paramref name="scale"/>: what <see cref="Step(double)"/>
    /// does after <see cref="GradientBuffer.Scatter"/>, without writing the gradients out (the
    /// parameters' <c>.grad</c> keep what backward left).
    /// </summary>
    /// <exception cref="NotSupportedException">The rule reads <c>.grad</c> (<see cref="StepsFromSums"/> is false).</exception>
    public virtual void Step(double learningRate, GradientBuffer sums, float scale) =>
        throw new NotSupportedException($"{GetType().Name} steps from the parameters' gradients");

    /// <summary>Forgets every parameter's gradient (before a step's first backward).</summary>
    public abstract void ZeroGrad();

    /// <summary>The live state of <paramref name="parameter"/>: its tensors are the rule's own (copy before the next step changes them).</summary>
    /// <exception cref="ArgumentException">Not a parameter of this optimizer.</exception>
    public abstract LiveState StateOf(Parameter parameter);

    /// <summary>
    /// Gives <paramref name="parameter"/> the state <paramref name="slots"/> hold (copied; the
    /// caller keeps its tensors) at <paramref name="step"/>. The caller has checked that the slots
    /// are the rule's and of the parameter's shape (<see cref="SlotNames"/>).
    /// </summary>
    public abstract void Load(Parameter parameter, long step, IReadOnlyDictionary<string, Tensor> slots);

    /// <summary>Slots that the rule may leave unmade (SGD's momentum before the first step): a state without them is still whole.</summary>
    public virtual bool MayLack(string slot) => false;

    public abstract void Dispose();
}
