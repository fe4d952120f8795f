using ElasticTrain.Models;
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
/// the model's layers are spread over ranks and stages: every rank holds whole tensors. A parameter
/// shard holds rows of a tensor: it prepares its rows' step, the shards' squared norms are added up
/// per tensor (<see cref="ParameterServer.TrustRatios"/>), and each shard takes its rows' step at the
/// whole tensor's ratio. A ratio
/// whose weight or update norm is 0 is 1 (the plain Adam step), as in the reference implementations.
/// Parameters exempt from decay still take the trust ratio.
/// </remarks>
internal sealed class Lamb : MomentOptimizer<Lamb.State>
{
    internal sealed class State(Parameter parameter, double decay) : MomentState(parameter, decay)
    {
        public Prepared? Next; // the step computed and not yet taken
    }

    /// <summary>A parameter's next moments and update direction (with decay), and the norms its trust ratio comes from.</summary>
    internal sealed record Prepared(Tensor ExpAvg, Tensor ExpAvgSq, Tensor Update, float WeightNorm, float UpdateNorm) : IDisposable
    {
        public void Dispose()
        {
            ExpAvg.Dispose();
            ExpAvgSq.Dispose();
            Update.Dispose();
        }
    }

    private readonly OptimizerSettings _settings;

    public Lamb(OptimizerSettings settings, double weightDecay, List<Parameter> decayed, List<Parameter> exempt)
        : base(weightDecay, decayed, exempt, (p, decay) => new State(p, decay))
    {
        _settings = settings;
    }

    public override void Step(double learningRate)
    {
        Prepare();
        Take(learningRate, parameter => Find(parameter).Next is { } next ? UpdateRule.TrustRatio(next.WeightNorm, next.UpdateNorm) : 1);
    }

    /// <summary>
    /// Computes every parameter's step from its gradient (its next moments and update direction)
    /// without changing the parameter or its state, so that whoever holds only rows of a tensor can
    /// add up the whole tensor's norms (<see cref="PreparedNorms"/>) before the step is taken
    /// (<see cref="Take"/>) or dropped (<see cref="Discard"/>).
    /// </summary>
    public void Prepare()
    {
        Discard();
        double beta1 = _settings.Beta1, beta2 = _settings.Beta2;
        // Every number held until the calls that read it are done (see HeldScalars).
        using Scalar keep1 = beta1, keep2 = beta2, take1 = 1 - beta1, take2 = 1 - beta2, eps = _settings.Eps;
        using var noGrad = no_grad();
        foreach (var state in States)
        {
            using var scope = NewDisposeScope();
            var grad = state.Parameter.grad;
            if (grad is null) continue;
            var weights = state.Parameter;
            var step = state.Step + 1;
            var expAvg = state.ExpAvg.mul(keep1).add_(grad, alpha: take1);
            var expAvgSq = state.ExpAvgSq.mul(keep2).addcmul_(grad, grad, value: take2);
            var m = expAvg.DividedBy(1 - Math.Pow(beta1, step));
            var v = expAvgSq.DividedBy(1 - Math.Pow(beta2, step));
            var update = m / v.sqrt().add_(eps);
            if (state.Decay != 0)
            {
                using Scalar decay = state.Decay;
                update.add_(weights, alpha: decay);
            }
            state.Next = new Prepared(
                expAvg.DetachFromDisposeScope(), expAvgSq.DetachFromDisposeScope(), update.DetachFromDisposeScope(),
                weights.norm().item<float>(), update.norm().item<float>());
        }
    }

    /// <summary>The L2 norms of <paramref name="parameter"/>'s weights and prepared update, as float32 sums make them; null when it had no gradient.</summary>
    public (float Weight, float Update)? PreparedNorms(Parameter parameter) =>
        Find(parameter).Next is { } next ? (next.WeightNorm, next.UpdateNorm) : null;

    /// <summary>Takes the prepared step: each parameter moves by its update times <paramref name="learningRate"/> times its trust ratio.</summary>
    public void Take(double learningRate, Func<Parameter, double> trustRatio)
    {
        using var noGrad = no_grad();
        foreach (var state in States)
        {
            if (state.Next is not { } next) continue;
            state.Step++;
            state.ExpAvg.copy_(next.ExpAvg);
            state.ExpAvgSq.copy_(next.ExpAvgSq);
            using Scalar alpha = -learningRate * trustRatio(state.Parameter);
            state.Parameter.add_(next.Update, alpha: alpha);
        }
        Discard();
    }

    /// <summary>Drops a prepared step not taken.</summary>
    public void Discard()
    {
        foreach (var state in States)
        {
            state.Next?.Dispose();
            state.Next = null;
        }
    }

    public override void Dispose()
    {
        Discard();
        base.Dispose();
    }
}
