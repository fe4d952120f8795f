using System.Text;

namespace ElasticTrain.Checkpointing;

/// <summary>One tensor of an optimizer's state for one parameter, under the name the rule gives it (<c>exp_avg</c>, <c>momentum_buffer</c>).</summary>
public sealed record StateSlot(string Name, TensorBytes Tensor);

/// <summary>
/// Everything training needs of one parameter: its values and its optimizer state, under the
/// parameter's name in the whole model (<c>blocks.1.qkv.weight</c>). Keyed by name rather than by
/// position, so that whichever rank or stage holds the parameter can give it to whichever needs it,
/// whatever the mesh that wrote it and the mesh that reads it; TorchSharp's own optimizer state is a
/// list ordered by the optimizer's parameters, which only a model of the very same layout can read.
/// </summary>
/// <remarks>Equality is a record's: the tensors compare by reference. Compare contents with <see cref="SameAs"/>.</remarks>
/// <param name="Step">The rule's step count for this parameter (bias corrections depend on it, so a resumed optimizer must not start again from 0); 0 for rules without one.</param>
/// <param name="Slots">The rule's state tensors, in the rule's order; a slot the rule has not made yet (SGD's momentum before its first step) is absent.</param>
public sealed record ParameterState(string Name, TensorBytes Value, long Step, IReadOnlyList<StateSlot> Slots)
{
    /// <summary>AdamW's state, the one rule of format 1: its first and second moments.</summary>
    public ParameterState(string name, TensorBytes value, long step, TensorBytes expAvg, TensorBytes expAvgSq)
        : this(name, value, step, [new StateSlot("exp_avg", expAvg), new StateSlot("exp_avg_sq", expAvgSq)]) { }

    /// <summary>The slot of this name, if the state has it.</summary>
    public TensorBytes? Slot(string name) => Slots.FirstOrDefault(s => s.Name == name)?.Tensor;

    /// <summary>Same name, step and tensors, byte for byte.</summary>
    public bool SameAs(ParameterState other) =>
        Name == other.Name && Step == other.Step && Value.SameAs(other.Value) && Slots.Count == other.Slots.Count
        && Slots.Zip(other.Slots).All(p => p.First.Name == p.Second.Name && p.First.Tensor.SameAs(p.Second.Tensor));

    /// <summary>Format 2: step (int64), the value, the slot count (int32), then each slot's name and tensor. The parameter's name is the entry's key, not part of its bytes.</summary>
    public byte[] Encode()
    {
        using var stream = new MemoryStream();
        using (var writer = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true))
        {
            writer.Write(Step);
            Value.Write(writer);
            writer.Write(Slots.Count);
            foreach (var slot in Slots)
            {
                writer.Write(slot.Name);
                slot.Tensor.Write(writer);
            }
        }
        return stream.ToArray();
    }

    /// <summary>Reads an entry written by <see cref="Encode"/> (format 2), or by format 1: step, value, exp_avg, exp_avg_sq.</summary>
    /// <exception cref="CheckpointException">The bytes are cut short, malformed or longer than one entry.</exception>
    public static ParameterState Decode(string name, byte[] bytes, int format = 2)
    {
        try
        {
            using var reader = new BinaryReader(new MemoryStream(bytes), Encoding.UTF8);
            var step = reader.ReadInt64();
            var value = TensorBytes.Read(reader);
            ParameterState state;
            if (format == 1)
            {
                state = new ParameterState(name, value, step, TensorBytes.Read(reader), TensorBytes.Read(reader));
            }
            else
            {
                var count = reader.ReadInt32();
                if (count is < 0 or > 16) throw new InvalidDataException($"{count} state slots");
                var slots = new StateSlot[count];
                for (int i = 0; i < count; i++) slots[i] = new StateSlot(reader.ReadString(), TensorBytes.Read(reader));
                state = new ParameterState(name, value, step, slots);
            }
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
