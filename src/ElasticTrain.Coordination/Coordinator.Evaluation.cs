using Akka.Actor;
using ElasticTrain.Ranks;

namespace ElasticTrain.Coordination;

// Evaluation: every eval-every committed steps (and at the last), before the step's checkpoint,
// the replicas run the held-out windows forward (the plan and the arithmetic are the pure
// HeldOutEvaluation's) and the coordinator publishes the validation loss. The next step waits for it: an
// evaluation costs about a few steps, and the state it measures is then the committed step's on
// every rank. Nothing is journaled; an evaluation cut short by a failure is not repeated.
public sealed partial class Coordinator
{
    private sealed record EvaluationTimedOut(long Generation, long Step);

    private HeldOutEvaluation? _evaluation;  // the evaluation in flight
    private long _evaluatedStep = -1; // the step last evaluated, so that AfterStep goes on past it

    private bool EvaluationDue(long step) =>
        _setup.HeldOut > 0 && _setup.Training.EvalEvery is { } every && (step % every == 0 || step == Job.Steps) && step != _evaluatedStep;

    private void CommandsOfEvaluation()
    {
        Command<HeldOutEvaluated>(OnHeldOutEvaluated);
        Command<EvaluationTimedOut>(timeout =>
        {
            if (timeout.Generation == _state.Generation && _evaluation?.Step == timeout.Step)
                Abort($"the evaluation after step {timeout.Step} did not finish within {_setup.StepTimeout.TotalSeconds:0} s", verify: true);
        });
    }

    /// <summary>Asks the replicas for the held-out losses after <paramref name="step"/>; AfterStep goes on once they answer.</summary>
    private void Evaluate(long step)
    {
        if (_mesh!.Stages > 1)
        {
            // Settings refuse this at the start; a mesh planned otherwise (an older node) ends here.
            Fail("evaluation (elastictrain.job.eval-every) needs plain data parallelism (elastictrain.parallel.stages = 1)", badInput: true);
            return;
        }
        var evaluation = HeldOutEvaluation.Of(_state.Generation, step, _mesh, _setup.HeldOut);
        _evaluation = evaluation;
        foreach (var share in evaluation.Plan.Slices)
            _roster[share.Rank].Endpoint.Tell(new EvaluateHeldOut(_state.Generation, step, share.Offset, share.Count));
        WatchAwaited(step, $"evaluating step {step}", evaluation.Missing);
        Timers.StartSingleTimer("evaluation-timeout", new EvaluationTimedOut(_state.Generation, step), _setup.StepTimeout);
    }

    private void OnHeldOutEvaluated(HeldOutEvaluated report)
    {
        if (_evaluation is not { } evaluation || evaluation.Generation != _state.Generation || !evaluation.Add(report) || !evaluation.Complete) return;
        _evaluation = null;
        _evaluatedStep = evaluation.Step;
        StopWatchingAwaited();
        Timers.Cancel("evaluation-timeout");
        var (loss, perplexity, samples) = evaluation.Result();
        Publish(new EvaluationNotice(evaluation.Step, loss, perplexity, samples, _state.Generation));
        AfterStep(evaluation.Step);
    }
}
