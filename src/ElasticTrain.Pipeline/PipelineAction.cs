namespace ElasticTrain.Pipeline;

/// <summary>Whether an action runs a micro-batch through a stage's layers forward or backward.</summary>
public enum PipelineActionKind
{
    Forward,
    Backward,
}

/// <summary>
/// One entry of a stage's schedule: run micro-batch <see cref="MicroBatch"/> forward or backward
/// through the stage's layers. The table holds only compute, because the transfers follow from the
/// stage's place in the pipeline: Forward(m) on stage s receives m's activation from s-1 (unless s
/// is the first stage) and sends its output to s+1 (unless s is the last); Backward(m) receives the
/// gradient of that output from s+1 (unless s is the last, which starts from the loss of its own
/// Forward(m)) and sends the gradient of its input to s-1 (unless s is the first).
/// </summary>
public sealed record PipelineAction
{
    public PipelineAction(PipelineActionKind kind, int microBatch)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(microBatch);
        Kind = kind;
        MicroBatch = microBatch;
    }

    public PipelineActionKind Kind { get; }

    public int MicroBatch { get; }

    public static PipelineAction Forward(int microBatch) => new(PipelineActionKind.Forward, microBatch);

    public static PipelineAction Backward(int microBatch) => new(PipelineActionKind.Backward, microBatch);

    /// <summary>"F3" or "B3", the notation of <see cref="PipelineSchedule.Format"/>.</summary>
    public override string ToString() => $"{(Kind == PipelineActionKind.Forward ? 'F' : 'B')}{MicroBatch}";
}
