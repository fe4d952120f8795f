using ElasticTrain.Collectives.Transport;

namespace ElasticTrain.Collectives;

/// <summary>
/// Names one tensor passed between neighbouring pipeline stages: the generation and step it belongs
/// to, its pass and its micro-batch. Sender and receiver each derive it from their own schedule;
/// the sender labels the frames with it, the receiver says with it which frames must come next, so
/// a tensor of another micro-batch, step or length fails the receive instead of landing in the
/// wrong buffer.
/// </summary>
public readonly record struct StageMessage : IPointToPointMessage
{
    public StageMessage(long generation, long step, PipelinePass pass, int microBatch)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(generation, 1); // as the data plane's hello demands
        ArgumentOutOfRangeException.ThrowIfNegative(microBatch);
        if (!Enum.IsDefined(pass)) throw new ArgumentOutOfRangeException(nameof(pass), pass, "Unknown pipeline pass.");
        Generation = generation;
        Step = step;
        Pass = pass;
        MicroBatch = microBatch;
    }

    public long Generation { get; }

    public long Step { get; }

    public PipelinePass Pass { get; }

    public int MicroBatch { get; }

    /// <summary>The connection the tensor travels on: one per pass (<see cref="DataChannel"/>).</summary>
    public DataChannel Channel => Pass == PipelinePass.Forward ? DataChannel.Activations : DataChannel.ActivationGradients;

    /// <summary>
    /// The header of part <paramref name="part"/> (<paramref name="count"/> values) of a tensor of
    /// <paramref name="total"/> values, in the data plane's one frame layout, field for field: step,
    /// micro-batch as the bucket, pass as the phase, the total as the round, part, count. The
    /// generation is the link's (named in its hello). The total makes two ends that disagree on
    /// the tensor's length fail at its first frame rather than at the next message.
    /// </summary>
    public FrameHeader Frame(int part, int count, int total) => new(Step, MicroBatch, (int)Pass, total, part, count);

    public override string ToString() => $"{Pass} of micro-batch {MicroBatch} (step {Step}, generation {Generation})";
}
