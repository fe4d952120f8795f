using System.Globalization;
using ElasticTrain.Coordination;

namespace ElasticTrain.Cli.Reporting;

/// <summary>One line per event, for output that is not a terminal (CI logs, pipes, files).</summary>
public sealed class PlainLog(TextWriter output, int everySteps = 10) : IJobReporter
{
    private readonly SamplesRate _rate = new();
    private long _total;
    private double? _validation; // the last evaluation's loss, shown on the step lines after it

    public void Waiting(JobWaiting w) => output.WriteLine($"job {w.JobId}: waiting for ranks: {w.Reason}");

    public void Running(JobRunning r)
    {
        _total = r.TotalSteps;
        _rate.Reset();
        output.WriteLine(r.ResumedFrom is null
            ? $"job {r.JobId}: starting at step {r.FromStep} of {r.TotalSteps} with {r.World} ranks{Mesh(r)} (generation {r.Generation}){Recipe(r)}"
            : $"job {r.JobId}: resuming at step {r.FromStep} of {r.TotalSteps} from {r.ResumedFrom.Path} with {r.World} ranks{Mesh(r)} (generation {r.Generation}){Recipe(r)}");
    }

    /// <summary>"; lamb, clip 1" where the job's optimizer, schedule or clipping differ from the defaults.</summary>
    internal static string Recipe(JobRunning r) => r.Recipe.Length > 0 ? $"; {r.Recipe}" : "";

    /// <summary>" as 2x2" for a pipeline mesh; nothing for plain data parallelism.</summary>
    internal static string Mesh(JobRunning r) => r.Mesh.Length > 0 && !r.Mesh.EndsWith("x1", StringComparison.Ordinal) ? $" as {r.Mesh} (stages {r.Stages})" : "";

    public void Committed(StepCommittedNotice s)
    {
        _rate.Add(s.Samples);
        if (s.Step % everySteps != 0 && s.Step != _total && s.Step != 1) return;
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"step {s.Step}/{_total} loss {s.Loss:0.0000} world {s.World} {_rate.PerSecond:0.0} samples/s eta {_rate.Eta(_total - s.Step, s.Samples)}{Validation(_validation)}"));
    }

    /// <summary>" val 1.234" once the job has evaluated; nothing before.</summary>
    internal static string Validation(double? loss) => loss is { } v ? string.Create(CultureInfo.InvariantCulture, $" val {v:0.000}") : "";

    public void Evaluated(EvaluationNotice e)
    {
        _validation = e.Loss;
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"eval at step {e.Step}/{_total}: val {e.Loss:0.000} perplexity {e.Perplexity:0.00} over {e.Samples} held-out windows"));
    }

    public void Replayed(StepReplayed s)
    {
        if (s.JournaledLoss is { } journaled && Math.Abs(journaled - s.Loss) > 1e-4 * Math.Abs(journaled))
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"warning: replayed step {s.Step} gave loss {s.Loss:0.000000}, journaled {journaled:0.000000}"));
    }

    public void Checkpointed(CheckpointNotice c) => output.WriteLine($"checkpoint at step {c.Step}: {c.Path}");

    public void Finished(JobFinished f) => output.WriteLine(f.AlreadyFinished
        ? $"job {f.JobId} already finished at step {f.Step}; nothing to do"
        : $"job {f.JobId} finished at step {f.Step}");

    public void Dispose() => output.Flush();
}
