namespace ElasticTrain.Collectives;

/// <summary>One chunk of a ring all-reduce on its way to the right-hand neighbour.</summary>
/// <param name="Phase">0: reduce-scatter (the receiver adds), 1: all-gather (the receiver copies).</param>
/// <param name="Round">0 .. size-2 within the phase; with Phase it orders the chunks of one exchange.</param>
public sealed record RingChunk(long Generation, long Step, int Phase, int Round, float[] Values)
{
    public const int ReduceScatter = 0, AllGather = 1;

    /// <summary>The chunk's place in its exchange: later exchanges and later rounds compare greater.</summary>
    public (long, long, int, int) Order => (Generation, Step, Phase, Round);
}
