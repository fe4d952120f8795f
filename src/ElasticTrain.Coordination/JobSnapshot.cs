using ElasticTrain.Wire;

namespace ElasticTrain.Coordination;

/// <summary>
/// What the coordinator saves as a snapshot with each checkpoint, so that recovery reads only the
/// journal's tail: its <see cref="JobState"/>, and beside it what the state's fixed shape cannot
/// hold. Snapshots written before this record are a bare <see cref="JobState"/>, still read.
/// </summary>
/// <param name="Overflows">Every fp16 step whose gradient overflowed (<see cref="GradientOverflowed"/>): the loss scale of any later step follows from them.</param>
public sealed record JobSnapshot(JobState State, long[] Overflows) : IWireMessage
{
    /// <summary>A snapshot as the journal offers it, in either shape (a bare state has no overflows: no fp16 then); null for anything else.</summary>
    public static JobSnapshot? Of(object snapshot) => snapshot switch
    {
        JobSnapshot whole => whole,
        JobState state => new JobSnapshot(state, []),
        _ => null,
    };
}
