using ElasticTrain.Coordination;

namespace ElasticTrain.Cli.Reporting;

/// <summary>
/// Something that shows or records a job's progress. Called from one actor, one notice at a time;
/// a reporter implements the notices it cares about.
/// </summary>
public interface IJobReporter : IDisposable
{
    void Waiting(JobWaiting waiting) { }

    void Running(JobRunning running) { }
    void Committed(StepCommittedNotice step) { }
    void Sampled(StepSamples samples) { }
    void Replayed(StepReplayed step) { }
    void Checkpointed(CheckpointNotice checkpoint) { }
    void Evaluated(EvaluationNotice evaluation) { }
    void Finished(JobFinished finished) { }
    void Failed(JobFailed failed) { }
    void IDisposable.Dispose() { }
}
