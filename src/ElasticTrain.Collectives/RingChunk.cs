namespace ElasticTrain.Collectives;

/// <summary>One part of a ring all-reduce chunk on its way to the right-hand neighbour.</summary>
/// <param name="Phase">0: reduce-scatter (the receiver adds), 1: all-gather (the receiver copies).</param>
/// <param name="Round">0 .. size-2 within the phase; with Phase it orders the chunks of one exchange.</param>
/// <param name="Part">A round's chunk travels in parts of at most <see cref="MaxPartValues"/> values.</param>
public sealed record RingChunk(long Generation, long Step, int Phase, int Round, int Part, float[] Values)
{
    public const int ReduceScatter = 0, AllGather = 1;

    /// <summary>
    /// 256 Ki floats (1 MiB) per message: across processes these travel on the cluster's own
    /// connection, and a message of tens of megabytes would hold back heartbeats behind it.
    /// </summary>
    public const int MaxPartValues = 1 << 18;

    /// <summary>The part's place in its exchange: later exchanges, rounds and parts compare greater.</summary>
    public (long, long, int, int, int) Order => (Generation, Step, Phase, Round, Part);

    /// <summary>How many parts a chunk of <paramref name="count"/> values is sent in (at least one, even when empty).</summary>
    public static int PartsOf(int count) => Math.Max(1, (count + MaxPartValues - 1) / MaxPartValues);
}
