using Akka.Actor;
using ElasticTrain.Jobs;
using ElasticTrain.Ranks;
using ElasticTrain.Ranks.ParameterServer;

namespace ElasticTrain.Coordination;

// The step cycle: a step is planned and sent to its ranks, their reports (and in parameter-server
// mode the shards' squares) are tallied, the step is journaled once all are in, and only then does
// every member apply it; at the boundary after it, joins, drains and scale changes start a new
// generation, or the next step is dispatched.
public sealed partial class Coordinator
{
    private void Dispatch(long step)
    {
        // A step a parameter server's workers run ahead on was planned and sent already (RunAhead).
        var sent = _ahead.Remove(step, out var plan);
        plan ??= StepPlanner.Plan(step, _mesh!, Job.GlobalBatch, _roster.Speeds);
        _step = new StepTally(plan);
        _lastPlan = plan;
        if (ParameterServerMode) ExpectShardStep(plan);
        if (!sent) SendStep(plan);
        _stepClock.Restart();
        Timers.StartSingleTimer("step-timeout", new StepTimedOut(_state.Generation, step), _setup.StepTimeout);
        if (ParameterServerMode) RunAhead(step);
        foreach (var early in TakeEarly(step)) OnStepExchanged(early);
    }

    /// <summary>Hands the plan's ranks their slices, with the next step's plan for the loader to prefetch.</summary>
    private void SendStep(StepPlan plan)
    {
        var next = plan.Step < Job.Steps ? StepPlanner.Plan(plan.Step + 1, _mesh!, Job.GlobalBatch, _roster.Speeds) : null;
        var lossScale = _setup.Training.LossScaleAt(plan.Step, _overflows);
        foreach (var slice in plan.Slices)
            _roster[slice.Rank].Endpoint.Tell(new RunStep(_state.Generation, plan, next, lossScale));
    }

    private void OnStepExchanged(StepExchanged done)
    {
        if (done.Generation != _state.Generation || _step is not { } current) return;
        if (done.Step > current.Step && _ahead.ContainsKey(done.Step))
        {
            _early.Add(done); // a worker ran ahead and pushed before the step it belongs to is the current one
            return;
        }
        if (!current.Add(done)) return;
        if (!current.Complete)
        {
            if (_awaited is null) WatchAwaited(current.Step, $"the others finished step {current.Step}", current.Missing);
            return;
        }
        StopWatchingAwaited();
        TryCommit(current);
    }

    /// <summary>Every rank has reported the step (and in parameter-server mode, every shard its squares): journal it, or wait for the rest.</summary>
    private void TryCommit(StepTally tally)
    {
        double? shardSquares = null;
        TrustRatio[]? trust = null;
        if (ParameterServerMode)
        {
            if (!ShardsReadyToCommit(out var squares, out trust)) return;
            shardSquares = squares;
        }
        var summary = tally.Summarize(Job.GlobalBatch);
        if (shardSquares is { } fromShards) summary = summary with { GradientSquares = fromShards };
        Timers.Cancel("step-timeout");
        _failedAttempts = 0;
        foreach (var report in tally.Reports) _roster.MeasureSpeed(report.Rank, report.Samples, report.ComputeMs);
        MeasureCosts(tally);
        var stepMs = _stepClock.Elapsed.TotalMilliseconds;
        var overflowed = !double.IsFinite(summary.GradientSquares);
        if (overflowed && _setup.Training.Precision != Training.Precision.Fp16)
        {
            // Without a loss scaler there is nothing to back off: the job has diverged.
            Fail($"step {summary.Step}: the gradient is not finite (inf or NaN): the job diverged; lower the learning rate or clip the gradient (--clip-norm)", badInput: false);
            return;
        }
        if (summary.Step <= _state.CommittedStep)
        {
            ApplyCommitted(summary.Step, summary.GradientSquares, trust);
            Publish(new StepReplayed(summary.Step, summary.Loss, _state.JournaledLoss(summary.Step), _state.Generation));
            AfterStep(summary.Step);
            return;
        }
        var committed = new StepCommitted(summary.Step, summary.Loss, _state.Generation, summary.World);
        var sampled = new StepSampled(summary.Step, [.. summary.Samples.Select(s => new RankSamples(s.Rank, s.SampleIds))]);
        var lossScale = _setup.Training.LossScaleAt(summary.Step, _overflows);
        IJobEvent[] events = overflowed ? [committed, sampled, new GradientOverflowed(summary.Step, lossScale)] : [committed, sampled];
        WriteAll(events, () =>
        {
            _state = _state.Updated(committed);
            if (overflowed) _overflows.Add(summary.Step);
            _samples.Add(sampled);
            ApplyCommitted(summary.Step, summary.GradientSquares, trust);
            var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            _throughput.Committed(summary.Step, now);
            Publish(new StepCommittedNotice(summary.Step, summary.Loss, summary.World, _state.Generation, now, stepMs, Job.GlobalBatch,
                summary.MaxComputeMs, summary.MaxExchangeMs, summary.ExposedMs, summary.MaxWaitMs, summary.Bubble, summary.PeakHeldBytes,
                summary.GradientNorm, _setup.Training.Schedule.At(summary.Step, Job.LearningRate),
                _setup.Training.LossScale is null ? null : lossScale, Skipped: overflowed, BytesSent: summary.BytesSent,
                RankCompute: [.. tally.Reports.Select(r => (r.Rank, r.ComputeMs))], Staleness: StalenessOf(tally)));
            Publish(new StepSamples(summary.Step, _state.Generation, summary.Samples));
            AfterStep(summary.Step);
        });
    }

    /// <summary>The commit is durable: every member applies the step (in mailbox order, before anything later).</summary>
    /// <param name="trust">Parameter-server mode with LAMB: every tensor's trust ratio, for the shards.</param>
    private void ApplyCommitted(long step, double gradientSquares, TrustRatio[]? trust = null)
    {
        if (ParameterServerMode) ApplyOnShards(step, gradientSquares, trust);
        var copy = StartsCopyRound(step);
        foreach (var member in _members)
        {
            _roster[member].Endpoint.Tell(new ApplyStep(_state.Generation, step, copy, gradientSquares));
            _roster.HoldsState(member, step);
        }
    }

    /// <summary>
    /// The last step is committed and a new generation holds its state: what follows it (the final
    /// checkpoint, then the job's end) runs again, under a tally of that step that nothing reports to.
    /// </summary>
    private void FinishLastStep()
    {
        _step = new StepTally(StepPlanner.Plan(Job.Steps, _mesh!, Job.GlobalBatch, _roster.Speeds));
        AfterStep(Job.Steps);
    }

    private void Continue(long step)
    {
        if (step < Job.Steps)
        {
            // Joins, drains and scale changes take effect here, at the boundary, as a new generation.
            var desired = _roster.Desired();
            if (MeshWouldChange(desired) && !_roster.JoinersStillArriving(_members, desired, DateTime.UtcNow, _setup.Settle))
            {
                _step = null;
                _awaitingGeneration = true;
                _required = 1;
                TryStartGeneration();
                return;
            }
            Dispatch(step + 1);
            return;
        }
        Write(new JobCompleted(step), e =>
        {
            _state = _state.Updated(e);
            _step = null;
            End(new JobFinished(Job.Id, step, AlreadyFinished: false));
        });
    }
}
