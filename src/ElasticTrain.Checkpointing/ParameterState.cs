using System.Text;

namespace ElasticTrain.Checkpointing;

/// <summary>
/// Everything training needs of one parameter: its values and its AdamW state, under the parameter's
/// name in the whole model (<c>blocks.1.qkv.weight</c>). Keyed by name rather than by position, so
/// that whichever rank or stage holds the parameter can give it to whichever needs it, whatever the
/// mesh that wrote it and the mesh that reads it; TorchSharp's own optimizer state is a list ordered
/// by the optimizer's parameters, which only a model of the very same layout can read.
/// </summary>
/// <remarks>Equality is a record's: the tensors compare by reference. Compare contents with <see cref="SameAs"/>.</remarks>
/// <param name="Step">AdamW's step count for this parameter; its bias correction depends on it, so a resumed optimizer must not start again from 0.</param>
/// <param name="ExpAvg">AdamW's first moment (exp_avg).</param>
/// <param name="ExpAvgSq">AdamW's second moment (exp_avg_sq).</param>
public sealed record ParameterState(string Name, TensorBytes Value, long Step, TensorBytes ExpAvg, TensorBytes ExpAvgSq)
{
    /// <summary>Same name, step and tensors, byte for byte.</summary>
    public bool SameAs(ParameterState other) =>
        Name == other.Name && Step == other.Step && Value.SameAs(other.Value) && ExpAvg.SameAs(other.ExpAvg) && ExpAvgSq.SameAs(other.ExpAvgSq);

    /// <summary>step (int64), then the value, exp_avg and exp_avg_sq tensors. The name is the entry's key, not part of its bytes.</summary>
    public byte[] Encode()
    {
        using var stream = new MemoryStream();
        using (var writer = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true))
        {
            writer.Write(Step);
            Value.Write(writer);
            ExpAvg.Write(writer);
            ExpAvgSq.Write(writer);
        }
        return stream.ToArray();
    }

    /// <summary>Reads an entry written by <see cref="Encode"/>.</summary>
    /// <exception cref="CheckpointException">The bytes are cut short, malformed or longer than one entry.</exception>
    public static ParameterState Decode(string name, byte[] bytes)
    {
        try
        {
            using var reader = new BinaryReader(new MemoryStream(bytes), Encoding.UTF8);
            var step = reader.ReadInt64();
            var state = new ParameterState(name, TensorBytes.Read(reader), step, TensorBytes.Read(reader), TensorBytes.Read(reader));
            if (reader.BaseStream.Position != bytes.Length)
                throw new InvalidDataException($"{bytes.Length - reader.BaseStream.Position} bytes left over");
            return state;
        }
        catch (Exception e) when (e is EndOfStreamException or InvalidDataException or FormatException)
        {
            throw new CheckpointException($"the state of parameter '{name}' is damaged: {e.Message}");
        }
    }
}
