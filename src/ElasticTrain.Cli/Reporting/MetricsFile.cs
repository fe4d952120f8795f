using ElasticTrain.Coordination;

namespace ElasticTrain.Cli.Reporting;

/// <summary>
/// Appends one JSON object per line: a "step" record per committed step
/// (<c>{"type":"step","step":k,"loss":x,"world":n,"generation":g,"time_ms":unix_ms,"samples":B,...}</c>, with the
/// step's wall time, the slowest rank's compute and exchange times, the exchange's exposed tail
/// and the longest wait after backward (tail plus load imbalance)) and
/// "resume", "replay", "checkpoint", "eval" (<c>{"type":"eval","step":k,"loss":x,"perplexity":p,"samples":n}</c>:
/// the model after step k on the held-out windows) and "finish" records. Flushed per line, so a job killed with
/// -9 leaves every committed step it reported. A kill between a commit and its line leaves the file
/// a step short; the next generation (a resume, or a failover to another node writing the same file)
/// fills such steps in from the journal, marked <c>"recovered":true</c>. Each step has one record
/// (<see cref="StepLines"/>), whoever writes it.
/// </summary>
public sealed class MetricsFile(string path) : IJobReporter
{
    private readonly StepLines _file = new(path, line => line.TryGetProperty("type", out var type) && type.GetString() == "step");

    public void Running(JobRunning r)
    {
        if (r.FromStep == 1 && r.ResumedFrom is null) _file.StartOver();
        FillIn(r.Journaled);
        _file.Append(new
        {
            // resume: state loaded from a checkpoint; generation: a membership change that kept live state.
            type = r.ResumedFrom is not null ? "resume" : r.FromStep == 1 ? "start" : "generation",
            job = r.JobId, from_step = r.FromStep, steps = r.TotalSteps, world = r.World, mesh = r.Mesh, stages = r.Stages, recipe = r.Recipe, generation = r.Generation,
            checkpoint = r.ResumedFrom?.Path, time_ms = Now,
        });
    }

    /// <summary>
    /// Writes the journaled steps past the file's last step record. Only into a file that has step
    /// records: a new file (another machine's, after a failover) starts where its process did.
    /// </summary>
    private void FillIn(IReadOnlyList<JournaledStep> journaled)
    {
        if (journaled.Count == 0 || _file.LastStep == 0) return;
        foreach (var s in journaled.Select(j => j.Committed).OrderBy(s => s.Step))
            _file.AppendStep(s.Step, [new { type = "step", step = s.Step, loss = s.Loss, world = s.World, generation = s.Generation, time_ms = Now, recovered = true }]);
    }

    public void Committed(StepCommittedNotice s) => _file.AppendStep(s.Step, [new
    {
        type = "step", step = s.Step, loss = s.Loss, world = s.World, generation = s.Generation, time_ms = s.TimeUnixMs, samples = s.Samples,
        step_ms = Math.Round(s.StepMs, 2), compute_ms = Math.Round(s.MaxComputeMs, 2), exchange_ms = Math.Round(s.MaxExchangeMs, 2),
        exposed_ms = Math.Round(s.ExposedMs, 2), wait_ms = Math.Round(s.MaxWaitMs, 2),
        bubble = s.Bubble is { } bubble ? Math.Round(bubble, 4) : (double?)null,
        peak_stage_mb = s.PeakHeldBytes > 0 ? Math.Round(s.PeakHeldBytes / (1024.0 * 1024.0), 3) : (double?)null,
        grad_norm = s.GradientNorm is { } norm && double.IsFinite(norm) ? norm : (double?)null, lr = s.LearningRate, bytes_sent = s.BytesSent,
        loss_scale = s.LossScale, skipped = s.Skipped ? true : (bool?)null, staleness = s.Staleness,
    }]);

    public void Replayed(StepReplayed s) => _file.Append(new
    {
        type = "replay", step = s.Step, loss = s.Loss, journaled_loss = s.JournaledLoss, generation = s.Generation, time_ms = Now,
    });

    public void Checkpointed(CheckpointNotice c) => _file.Append(new { type = "checkpoint", step = c.Step, path = c.Path, generation = c.Generation, time_ms = Now });

    public void Evaluated(EvaluationNotice e) => _file.Append(new
    {
        type = "eval", step = e.Step, loss = e.Loss, perplexity = e.Perplexity, samples = e.Samples, generation = e.Generation, time_ms = Now,
    });

    public void Finished(JobFinished f) => _file.Append(new { type = "finish", job = f.JobId, step = f.Step, already_finished = f.AlreadyFinished, time_ms = Now });

    public void Failed(JobFailed f) => _file.Append(new { type = "failed", reason = f.Reason, time_ms = Now });

    private static long Now => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    public void Dispose() => _file.Dispose();
}
