using System.Numerics.Tensors;
using System.Runtime.InteropServices;

namespace ElasticTrain.Collectives.Compression;

/// <summary>The 16-bit formats gradients can travel in.</summary>
public enum HalfFormat { Fp16, Bf16 }

/// <summary>
/// Pure: float32 values as 16-bit values packed two to a float slot (value 2i in the low half of
/// slot i, 2i + 1 in the high half; an odd count leaves the last high half zero), so that they
/// travel in the data plane's float frames unchanged: links copy slots bit for bit. Both
/// encodings round to nearest, ties to even. fp16 keeps 11 significant bits over a narrow range
/// (overflow above 65504 gives infinity); bf16 keeps float32's range with 8 significant bits.
/// </summary>
public static class HalfCodec
{
    /// <summary>Float slots that carry <paramref name="count"/> 16-bit values.</summary>
    public static int PackedLength(int count) => (count + 1) / 2;

    public static void Encode(ReadOnlySpan<float> values, Span<float> packed, HalfFormat format)
    {
        if (packed.Length != PackedLength(values.Length))
            throw new ArgumentException($"{values.Length} values pack into {PackedLength(values.Length)} slots, not {packed.Length}");
        var halves = MemoryMarshal.Cast<float, ushort>(packed);
        if (format == HalfFormat.Fp16)
        {
            TensorPrimitives.ConvertToHalf(values, MemoryMarshal.Cast<ushort, Half>(halves)[..values.Length]);
        }
        else
        {
            var bits = MemoryMarshal.Cast<float, uint>(values);
            for (int i = 0; i < bits.Length; i++) halves[i] = ToBf16(bits[i]);
        }
        if (values.Length % 2 == 1) halves[values.Length] = 0;
    }

    /// <summary>Writes the <paramref name="values"/>.Length values <paramref name="packed"/> holds as float32.</summary>
    public static void Decode(ReadOnlySpan<float> packed, Span<float> values, HalfFormat format)
    {
        if (packed.Length != PackedLength(values.Length))
            throw new ArgumentException($"{values.Length} values pack into {PackedLength(values.Length)} slots, not {packed.Length}");
        var halves = MemoryMarshal.Cast<float, ushort>(packed)[..values.Length];
        if (format == HalfFormat.Fp16)
        {
            TensorPrimitives.ConvertToSingle(MemoryMarshal.Cast<ushort, Half>(halves), values);
        }
        else
        {
            var bits = MemoryMarshal.Cast<float, uint>(values);
            for (int i = 0; i < halves.Length; i++) bits[i] = (uint)halves[i] << 16;
        }
    }

    /// <summary>Adds the values <paramref name="packed"/> holds to <paramref name="target"/>, in float32, decoding through <paramref name="scratch"/>.</summary>
    public static void DecodeAdd(ReadOnlySpan<float> packed, Span<float> target, HalfFormat format, Span<float> scratch)
    {
        var decoded = scratch[..target.Length];
        Decode(packed, decoded, format);
        TensorPrimitives.Add(target, decoded, target);
    }

    /// <summary>The value <paramref name="value"/> becomes after a trip through the format.</summary>
    public static float Round(float value, HalfFormat format) => format == HalfFormat.Fp16
        ? (float)(Half)value
        : BitConverter.UInt32BitsToSingle((uint)ToBf16(BitConverter.SingleToUInt32Bits(value)) << 16);

    /// <summary>The upper 16 bits of a float32, rounded to nearest even; NaN stays NaN.</summary>
    private static ushort ToBf16(uint bits)
    {
        if ((bits & 0x7FFF_FFFF) > 0x7F80_0000) return (ushort)((bits >> 16) | 0x40); // quiet NaN
        return (ushort)((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16);
    }
}
