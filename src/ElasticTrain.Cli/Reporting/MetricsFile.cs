using System.Text.Json;
using ElasticTrain.Coordination;

namespace ElasticTrain.Cli.Reporting;

/// <summary>
/// Appends one JSON object per line: a "step" record per committed step
/// (<c>{"type":"step","step":k,"loss":x,"world":n,"generation":g,"time_ms":unix_ms,...}</c>, with the
/// step's wall time, the slowest rank's compute and exchange times, the exchange's exposed tail
/// and the longest wait after backward (tail plus load imbalance)) and
/// "resume", "replay", "checkpoint" and "finish" records. Flushed per line, so a job killed with
/// -9 leaves every committed step it reported. A kill between a commit and its line leaves the file
/// a step short; the next generation (a resume, or a failover to another node writing the same file)
/// fills such steps in from the journal, marked <c>"recovered":true</c>.
/// </summary>
public sealed class MetricsFile : IJobReporter
{
    private readonly string _path;
    private readonly JsonLinesFile _file;

    public MetricsFile(string path)
    {
        _path = path;
        _file = new JsonLinesFile(path);
    }

    public void Running(JobRunning r)
    {
        FillIn(r.Journaled);
        Write(new
        {
            // resume: state loaded from a checkpoint; generation: a membership change that kept live state.
            type = r.ResumedFrom is not null ? "resume" : r.FromStep == 1 ? "start" : "generation",
            job = r.JobId, from_step = r.FromStep, steps = r.TotalSteps, world = r.World, generation = r.Generation,
            checkpoint = r.ResumedFrom?.Path, time_ms = Now,
        });
    }

    /// <summary>
    /// Writes the journaled steps past the file's last step record. Only into a file that has step
    /// records: a new file (another machine's, after a failover) starts where its process did.
    /// </summary>
    private void FillIn(IReadOnlyList<StepCommitted> journaled)
    {
        if (journaled.Count == 0) return;
        var reported = LastReportedStep();
        if (reported == 0) return;
        foreach (var s in journaled.Where(s => s.Step > reported).OrderBy(s => s.Step))
            Write(new { type = "step", step = s.Step, loss = s.Loss, world = s.World, generation = s.Generation, time_ms = Now, recovered = true });
    }

    private long LastReportedStep()
    {
        using var stream = new FileStream(_path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        using var reader = new StreamReader(stream);
        long last = 0;
        while (reader.ReadLine() is { } line)
        {
            if (!line.Contains("\"type\":\"step\"", StringComparison.Ordinal)) continue;
            try
            {
                using var record = JsonDocument.Parse(line);
                last = Math.Max(last, record.RootElement.GetProperty("step").GetInt64());
            }
            catch (JsonException) { } // a line cut short by a kill
        }
        return last;
    }

    public void Committed(StepCommittedNotice s) => Write(new
    {
        type = "step", step = s.Step, loss = s.Loss, world = s.World, generation = s.Generation, time_ms = s.TimeUnixMs,
        step_ms = Math.Round(s.StepMs, 2), compute_ms = Math.Round(s.MaxComputeMs, 2), exchange_ms = Math.Round(s.MaxExchangeMs, 2),
        exposed_ms = Math.Round(s.ExposedMs, 2), wait_ms = Math.Round(s.MaxWaitMs, 2),
    });

    public void Replayed(StepReplayed s) => Write(new
    {
        type = "replay", step = s.Step, loss = s.Loss, journaled_loss = s.JournaledLoss, generation = s.Generation, time_ms = Now,
    });

    public void Checkpointed(CheckpointNotice c) => Write(new { type = "checkpoint", step = c.Step, path = c.Path, generation = c.Generation, time_ms = Now });

    public void Finished(JobFinished f) => Write(new { type = "finish", job = f.JobId, step = f.Step, already_finished = f.AlreadyFinished, time_ms = Now });

    public void Failed(JobFailed f) => Write(new { type = "failed", reason = f.Reason, time_ms = Now });

    private static long Now => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    private void Write(object record) => _file.Append(record);

    public void Dispose() => _file.Dispose();
}
