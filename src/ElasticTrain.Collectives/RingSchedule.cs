namespace ElasticTrain.Collectives;

/// <summary>
/// The pure arithmetic of a ring all-reduce over n members: how a buffer is cut into n chunks and
/// which chunk a member sends and receives in each round. Reduce-scatter leaves member p holding
/// the full sum of chunk (p + 1) mod n; all-gather then passes the sums around. Each member sends
/// 2(n-1)/n of the buffer in all, the bandwidth optimum for a ring.
/// </summary>
public static class RingSchedule
{
    /// <summary>Chunk <paramref name="index"/> of a buffer of <paramref name="length"/> cut into
    /// <paramref name="parts"/> contiguous chunks whose sizes differ by at most one.</summary>
    public static (int Offset, int Count) Chunk(int length, int parts, int index)
    {
        if (parts < 1) throw new ArgumentOutOfRangeException(nameof(parts));
        if ((uint)index >= (uint)parts) throw new ArgumentOutOfRangeException(nameof(index));
        int baseSize = length / parts, extra = length % parts;
        int offset = index * baseSize + Math.Min(index, extra);
        return (offset, baseSize + (index < extra ? 1 : 0));
    }

    public static int SendIndex(int phase, int round, int position, int size) =>
        Mod(phase == RingAllReduce.ReduceScatter ? position - round : position + 1 - round, size);

    public static int ReceiveIndex(int phase, int round, int position, int size) =>
        Mod(phase == RingAllReduce.ReduceScatter ? position - round - 1 : position - round, size);

    private static int Mod(int value, int size) => ((value % size) + size) % size;
}
