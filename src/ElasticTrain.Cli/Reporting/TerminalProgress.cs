using System.Globalization;
using ElasticTrain.Coordination;
using Spectre.Console;

namespace ElasticTrain.Cli.Reporting;

/// <summary>
/// A live progress bar (step, loss, samples/s, ETA) for a terminal. Spectre's progress loop owns
/// the console while it runs, so it lives on its own task and this class only updates its state.
/// </summary>
public sealed class TerminalProgress : IJobReporter
{
    private readonly TaskCompletionSource _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource<ProgressTask> _task = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly SamplesRate _rate = new();
    private Task? _loop;
    private double? _validation;

    public void Waiting(JobWaiting w) => AnsiConsole.MarkupLine(Markup.Escape($"job {w.JobId}: waiting for ranks: {w.Reason}"));

    public void Running(JobRunning r)
    {
        _rate.Reset();
        AnsiConsole.MarkupLine(Markup.Escape(r.ResumedFrom is null
            ? $"job {r.JobId}: starting at step {r.FromStep} of {r.TotalSteps} with {r.World} ranks{PlainLog.Mesh(r)}{PlainLog.Recipe(r)}"
            : $"job {r.JobId}: resuming at step {r.FromStep} of {r.TotalSteps} from {r.ResumedFrom.Path} with {r.World} ranks{PlainLog.Mesh(r)}{PlainLog.Recipe(r)}"));
        if (_loop is not null) return;
        _loop = AnsiConsole.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
            .StartAsync(async context =>
            {
                var task = context.AddTask("starting", maxValue: r.TotalSteps);
                task.Value = r.FromStep - 1;
                _task.SetResult(task);
                await _done.Task;
            });
    }

    public void Committed(StepCommittedNotice s)
    {
        _rate.Add(s.Samples);
        if (!_task.Task.IsCompleted) return;
        var task = _task.Task.Result;
        task.Value = s.Step;
        task.Description = string.Create(CultureInfo.InvariantCulture,
            $"step {s.Step} loss {s.Loss:0.0000} world {s.World} {_rate.PerSecond:0.0} samples/s{PlainLog.Validation(_validation)}");
    }

    public void Evaluated(EvaluationNotice e) => _validation = e.Loss;

    public void Replayed(StepReplayed s)
    {
        if (_task.Task.IsCompleted) _task.Task.Result.Description = $"replaying step {s.Step}";
    }

    public void Finished(JobFinished f)
    {
        Stop();
        AnsiConsole.MarkupLine(Markup.Escape(f.AlreadyFinished
            ? $"job {f.JobId} already finished at step {f.Step}; nothing to do"
            : $"job {f.JobId} finished at step {f.Step}"));
    }

    public void Failed(JobFailed f) => Stop();

    private void Stop()
    {
        _done.TrySetResult();
        _loop?.Wait(TimeSpan.FromSeconds(2));
    }

    public void Dispose() => Stop();
}
