using ElasticTrain.Coordination;

namespace ElasticTrain.Cli.Reporting;

/// <summary>
/// Appends one JSON object per line: a "step" record per committed step
/// (<c>{"type":"step","step":k,"loss":x,"world":n,"generation":g,"time_ms":unix_ms,...}</c>, with the
/// step's wall time, the slowest rank's compute and exchange times, the exchange's exposed tail
/// and the longest wait after backward (tail plus load imbalance)) and
/// "resume", "replay", "checkpoint" and "finish" records. Flushed per line, so a job killed with
/// -9 leaves every committed step it reported.
/// </summary>
public sealed class MetricsFile : IJobReporter
{
    private readonly JsonLinesFile _file;

    public MetricsFile(string path) => _file = new JsonLinesFile(path);

    public void Running(JobRunning r) => Write(new
    {
        // resume: state loaded from a checkpoint; generation: a membership change that kept live state.
        type = r.ResumedFrom is not null ? "resume" : r.FromStep == 1 ? "start" : "generation",
        job = r.JobId, from_step = r.FromStep, steps = r.TotalSteps, world = r.World, generation = r.Generation,
        checkpoint = r.ResumedFrom?.Path, time_ms = Now,
    });

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
