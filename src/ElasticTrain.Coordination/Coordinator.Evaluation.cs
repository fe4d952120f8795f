using Akka.Actor;
using ElasticTrain.Ranks;

namespace ElasticTrain.Coordination;

// Evaluation: every eval-every committed steps (and at the last), before the step's checkpoint,
// the replicas run the held-out windows forward (the plan and the arithmetic are the pure
// HeldOutEvaluation's) and the coordinator publishes the validation loss. The next step waits for it: an
// evaluation costs about a few steps, and the state it measures is then the committed step's on
// every rank. Nothing is journaled. An evaluation cut short by a failure runs again when the next
// generation starts from that step's state, before its first step (a checkpoint due at that step,
// which came after the evaluation, is not: the next one is).
public sealed partial class Coordinator
{
    private sealed record EvaluationTimedOut(long Generation, long Step);

    private HeldOutEvaluation? _evaluation;  // the evaluation in flight, or the last one cut short
    private Action? _afterEvaluation;         // what the evaluation in flight was holding up
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

    /// <summary>
    /// Whether this generation starts from the state of a step whose evaluation an earlier
    /// generation did not finish: then it evaluates that step before it runs the next.
    /// </summary>
    private bool EvaluationCutShort(long stateStep) =>
        _evaluation is { } cut && cut.Generation != _state.Generation && cut.Step == stateStep && _evaluatedStep != stateStep;

    /// <summary>Asks the replicas for the held-out losses after <paramref name="step"/>; <paramref name="then"/> once they answer.</summary>
    private void Evaluate(long step, Action then)
    {
        if (_mesh!.Stages > 1)
        {
            // Settings refuse this at the start; a mesh planned otherwise (an older node) ends here.
            Fail("evaluation (elastictrain.job.eval-every) needs plain data parallelism (elastictrain.parallel.stages = 1)", badInput: true);
            return;
        }
        Timers.Cancel("step-timeout"); // a generation's preparation is over: the evaluation has its own patience
        var evaluation = HeldOutEvaluation.Of(_state.Generation, step, _mesh, _setup.HeldOut);
        _evaluation = evaluation;
        _afterEvaluation = then;
        foreach (var share in evaluation.Plan.Slices)
            _roster[share.Rank].Endpoint.Tell(new EvaluateHeldOut(_state.Generation, step, share.Offset, share.Count));
        WatchAwaited(step, $"evaluating step {step}", evaluation.Missing);
        Timers.StartSingleTimer("evaluation-timeout", new EvaluationTimedOut(_state.Generation, step), _setup.StepTimeout);
    }

    private void OnHeldOutEvaluated(HeldOutEvaluated report)
    {
        if (_evaluation is not { } evaluation || evaluation.Generation != _state.Generation || !evaluation.Add(report) || !evaluation.Complete) return;
        var then = _afterEvaluation!;
        (_evaluation, _afterEvaluation) = (null, null);
        _evaluatedStep = evaluation.Step;
        StopWatchingAwaited();
        Timers.Cancel("evaluation-timeout");
        var (loss, perplexity, samples) = evaluation.Result();
        Publish(new EvaluationNotice(evaluation.Step, loss, perplexity, samples, _state.Generation));
        then();
    }
}
