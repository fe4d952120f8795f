using System.Diagnostics;
using Akka.Actor;
using ElasticTrain.Data;

namespace ElasticTrain.Ranks;

// Evaluation: the coordinator asks for a share of the held-out windows after a committed step;
// the rank has its loader read them and runs them forward on the compute thread, behind the
// step's update (posted there first), like a step.
public sealed partial class Rank
{
    private (EvaluateHeldOut Order, IActorRef Coordinator)? _pendingEvaluation; // waiting for its windows

    private void OnEvaluate(EvaluateHeldOut evaluate)
    {
        if (Stale(evaluate.Generation)) return;
        _pendingEvaluation = (evaluate, Sender);
        _setup.Loader.Tell(new DataLoader.FetchHeldOut(evaluate.Generation, evaluate.Step, evaluate.Offset, evaluate.Count));
    }

    private void OnHeldOutBatch(DataLoader.HeldOutBatch batch)
    {
        if (Stale(batch.Generation) || _pendingEvaluation is not { } pending || pending.Order.Step != batch.Step) return;
        _pendingEvaluation = null;
        OnCompute(batch.Generation, batch.Step, pending.Coordinator, () =>
        {
            // Pipeline stages hold part of the model; the coordinator evaluates whole replicas only.
            if (_part is not Replica replica) throw new InvalidOperationException("evaluation needs the whole model on one rank (stages = 1)");
            var clock = Stopwatch.StartNew();
            var lossSum = replica.Evaluate(batch.Tokens, batch.SampleIds.Length);
            return new HeldOutEvaluated(batch.Generation, batch.Step, _setup.Id, lossSum, batch.SampleIds.Length, clock.Elapsed.TotalMilliseconds);
        });
    }
}
