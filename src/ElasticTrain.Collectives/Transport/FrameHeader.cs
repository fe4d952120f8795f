using System.Buffers.Binary;

namespace ElasticTrain.Collectives.Transport;

/// <summary>
/// What precedes every run of floats on a link: where the values belong in the exchange. The
/// receiver knows which frame it expects next and refuses any other, so members that disagree
/// (on the buffer size, the step, the bucket order) fail the exchange instead of mixing data.
/// </summary>
public readonly record struct FrameHeader(long Step, int Bucket, int Phase, int Round, int Part, int Count)
{
    public const int Size = 8 + 5 * 4;

    /// <summary>
    /// The largest payload one frame may carry, for every channel: 16 MiB. A receiver refuses a
    /// header announcing more before it reads or allocates anything, and a sender refuses to post
    /// more. Gradient frames are 512 KiB (<see cref="RingAllReduce.PartValues"/>); activation frames
    /// use the whole limit (<see cref="PointToPoint.PartValues"/>).
    /// </summary>
    public const int MaxPayloadBytes = 16 << 20;

    /// <summary><see cref="MaxPayloadBytes"/> in floats.</summary>
    public const int MaxValues = MaxPayloadBytes / sizeof(float);

    /// <summary>
    /// How many frames of at most <paramref name="partValues"/> values carry <paramref name="count"/>
    /// values: at least one, even for none, so the receiver always learns that the run arrived.
    /// </summary>
    public static int PartCount(int count, int partValues) => (int)Math.Max(1, ((long)count + partValues - 1) / partValues);

    /// <summary>Where part <paramref name="part"/> of a run of <paramref name="count"/> values cut as by <see cref="PartCount"/> lies in it.</summary>
    public static (int Start, int Length) PartRange(int count, int part, int partValues)
    {
        int start = part * partValues;
        return (start, Math.Max(0, Math.Min(partValues, count - start)));
    }

    public void Write(Span<byte> target)
    {
        BinaryPrimitives.WriteInt64LittleEndian(target, Step);
        BinaryPrimitives.WriteInt32LittleEndian(target[8..], Bucket);
        BinaryPrimitives.WriteInt32LittleEndian(target[12..], Phase);
        BinaryPrimitives.WriteInt32LittleEndian(target[16..], Round);
        BinaryPrimitives.WriteInt32LittleEndian(target[20..], Part);
        BinaryPrimitives.WriteInt32LittleEndian(target[24..], Count);
    }

    public static FrameHeader Read(ReadOnlySpan<byte> source) => new(
        BinaryPrimitives.ReadInt64LittleEndian(source),
        BinaryPrimitives.ReadInt32LittleEndian(source[8..]),
        BinaryPrimitives.ReadInt32LittleEndian(source[12..]),
        BinaryPrimitives.ReadInt32LittleEndian(source[16..]),
        BinaryPrimitives.ReadInt32LittleEndian(source[20..]),
        BinaryPrimitives.ReadInt32LittleEndian(source[24..]));

    public override string ToString() => $"step {Step} bucket {Bucket} phase {Phase} round {Round} part {Part} ({Count} values)";
}
