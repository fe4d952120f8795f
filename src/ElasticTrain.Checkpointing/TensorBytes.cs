namespace ElasticTrain.Checkpointing;

/// <summary>
/// A tensor as bytes, so that this assembly can store and check one without knowing tensors: its
/// element type by name, its shape, and its elements in row-major order, little-endian.
/// </summary>
/// <remarks>
/// Equality is a record's: <see cref="Shape"/> and <see cref="Data"/> compare by reference, not by
/// content. Compare contents with <see cref="SameAs"/>.
/// </remarks>
/// <param name="DType">The element type as TorchSharp names it (<c>Float32</c>); the loader decides what it accepts.</param>
public sealed record TensorBytes(string DType, long[] Shape, byte[] Data)
{
    /// <summary>The shape as <c>[3, 8]</c>, for messages.</summary>
    public string ShapeText => "[" + string.Join(", ", Shape) + "]";

    /// <summary>Same element type, shape and bytes.</summary>
    public bool SameAs(TensorBytes other) =>
        DType == other.DType && Shape.AsSpan().SequenceEqual(other.Shape) && Data.AsSpan().SequenceEqual(other.Data);

    /// <summary>dtype (string), rank (int32), one int64 per dimension, byte count (int64), the bytes.</summary>
    internal void Write(BinaryWriter writer)
    {
        writer.Write(DType);
        writer.Write(Shape.Length);
        foreach (var size in Shape) writer.Write(size);
        writer.Write((long)Data.Length);
        writer.Write(Data);
    }

    /// <exception cref="EndOfStreamException">The bytes end before the tensor does.</exception>
    /// <exception cref="InvalidDataException">A negative rank, dimension or byte count.</exception>
    internal static TensorBytes Read(BinaryReader reader)
    {
        var dtype = reader.ReadString();
        var rank = reader.ReadInt32();
        if (rank < 0) throw new InvalidDataException($"rank {rank}");
        var shape = new long[rank];
        for (int i = 0; i < rank; i++)
            if ((shape[i] = reader.ReadInt64()) < 0) throw new InvalidDataException($"dimension {shape[i]}");
        var length = reader.ReadInt64();
        if (length < 0 || length > reader.BaseStream.Length - reader.BaseStream.Position)
            throw new EndOfStreamException($"{length} bytes of elements announced, fewer left");
        return new TensorBytes(dtype, shape, reader.ReadBytes((int)length));
    }
}
