using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Akka.Actor;

namespace ElasticTrain.Collectives;

/// <summary>
/// Writes a <see cref="RingChunk"/> as a fixed 32-byte header and its floats as raw little-endian
/// bytes: one block copy each way, no per-element work.
/// </summary>
public sealed class TensorChunkSerializer(ExtendedActorSystem system) : Akka.Serialization.Serializer(system)
{
    public const int Id = 742;
    private const int HeaderSize = 8 + 8 + 4 + 4 + 4 + 4;

    public override int Identifier => Id;

    public override bool IncludeManifest => false;

    public override byte[] ToBinary(object obj)
    {
        var chunk = (RingChunk)obj;
        var bytes = new byte[HeaderSize + chunk.Values.Length * sizeof(float)];
        var span = bytes.AsSpan();
        BinaryPrimitives.WriteInt64LittleEndian(span, chunk.Generation);
        BinaryPrimitives.WriteInt64LittleEndian(span[8..], chunk.Step);
        BinaryPrimitives.WriteInt32LittleEndian(span[16..], chunk.Phase);
        BinaryPrimitives.WriteInt32LittleEndian(span[20..], chunk.Round);
        BinaryPrimitives.WriteInt32LittleEndian(span[24..], chunk.Part);
        BinaryPrimitives.WriteInt32LittleEndian(span[28..], chunk.Values.Length);
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("big-endian hosts are not supported");
        MemoryMarshal.AsBytes(chunk.Values.AsSpan()).CopyTo(span[HeaderSize..]);
        return bytes;
    }

    public override object FromBinary(byte[] bytes, Type? type)
    {
        var span = bytes.AsSpan();
        int count = BinaryPrimitives.ReadInt32LittleEndian(span[28..]);
        if (count < 0 || bytes.Length != HeaderSize + count * sizeof(float))
            throw new System.Runtime.Serialization.SerializationException($"ring chunk of {bytes.Length} bytes claims {count} values");
        var values = new float[count];
        span[HeaderSize..].CopyTo(MemoryMarshal.AsBytes(values.AsSpan()));
        return new RingChunk(
            BinaryPrimitives.ReadInt64LittleEndian(span),
            BinaryPrimitives.ReadInt64LittleEndian(span[8..]),
            BinaryPrimitives.ReadInt32LittleEndian(span[16..]),
            BinaryPrimitives.ReadInt32LittleEndian(span[20..]),
            BinaryPrimitives.ReadInt32LittleEndian(span[24..]),
            values);
    }
}
