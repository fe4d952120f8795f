using System.Buffers.Binary;
using System.Net.Sockets;
using System.Text;

namespace ElasticTrain.Collectives.Transport;

/// <summary>
/// What a connecting rank says about itself: which channel, which rank sends to which, in which
/// generation. It travels inside the authenticated handshake (<see cref="DataPlaneHandshake"/>),
/// and the listener uses it to hand the connection to the right rank.
/// <para>
/// Bytes, little-endian: magic u32 "ETDP" | version u16 | channel u16 | generation i64 |
/// from: length u16 + UTF-8 | to: length u16 + UTF-8. Every field is checked as it is read, before
/// anything sized by it is allocated.
/// </para>
/// </summary>
public sealed record Hello(long Generation, string From, string To, DataChannel Channel = DataChannel.RingAllReduce)
{
    public const uint Magic = 0x45544450; // "ETDP" as a number (the wire, little-endian, has the bytes "PDTE")
    public const ushort Version = 1;
    /// <summary>The longest rank name, in UTF-8 bytes; rank names are HOST:PORT/rN, far shorter.</summary>
    public const int MaxName = 1024;
    /// <summary>The fixed part: magic, version, channel, generation, the first name's length.</summary>
    public const int HeadSize = 4 + 2 + 2 + 8 + 2;

    public byte[] Encode()
    {
        var from = Encoding.UTF8.GetBytes(From);
        var to = Encoding.UTF8.GetBytes(To);
        if (from.Length > MaxName || to.Length > MaxName) throw new ArgumentException($"rank names are limited to {MaxName} bytes");
        var bytes = new byte[HeadSize + from.Length + 2 + to.Length];
        var span = bytes.AsSpan();
        BinaryPrimitives.WriteUInt32LittleEndian(span, Magic);
        BinaryPrimitives.WriteUInt16LittleEndian(span[4..], Version);
        BinaryPrimitives.WriteUInt16LittleEndian(span[6..], (ushort)Channel);
        BinaryPrimitives.WriteInt64LittleEndian(span[8..], Generation);
        BinaryPrimitives.WriteUInt16LittleEndian(span[16..], (ushort)from.Length);
        from.CopyTo(span[HeadSize..]);
        BinaryPrimitives.WriteUInt16LittleEndian(span[(HeadSize + from.Length)..], (ushort)to.Length);
        to.CopyTo(span[(HeadSize + 2 + from.Length)..]);
        return bytes;
    }

    /// <summary>
    /// Reads a hello and the exact bytes it came in (the handshake signs those); throws
    /// <see cref="InvalidDataException"/> saying why for anything that is not a hello this process
    /// speaks. Nothing read here is trusted yet: the caller still checks the signature.
    /// </summary>
    public static (Hello Hello, byte[] Bytes) Read(Socket socket)
    {
        var head = new byte[HeadSize];
        SocketIo.ReadAll(socket, head);
        if (BinaryPrimitives.ReadUInt32LittleEndian(head) != Magic)
            throw new InvalidDataException("not an ElasticTrain data-plane hello (wrong magic)");
        var version = BinaryPrimitives.ReadUInt16LittleEndian(head.AsSpan(4));
        if (version != Version)
            throw new InvalidDataException($"data-plane protocol version {version}; this process speaks {Version}");
        var channel = BinaryPrimitives.ReadUInt16LittleEndian(head.AsSpan(6));
        if (!Enum.IsDefined((DataChannel)channel))
            throw new InvalidDataException($"unknown data channel {channel}");
        var generation = BinaryPrimitives.ReadInt64LittleEndian(head.AsSpan(8));
        if (generation < 1) throw new InvalidDataException($"generation {generation} (generations start at 1)");
        var from = ReadName(socket, BinaryPrimitives.ReadUInt16LittleEndian(head.AsSpan(16)));
        var length = new byte[2];
        SocketIo.ReadAll(socket, length);
        var to = ReadName(socket, BinaryPrimitives.ReadUInt16LittleEndian(length));
        var bytes = new byte[HeadSize + from.Length + 2 + to.Length];
        head.CopyTo(bytes, 0);
        from.CopyTo(bytes, HeadSize);
        length.CopyTo(bytes, HeadSize + from.Length);
        to.CopyTo(bytes, HeadSize + from.Length + 2);
        return (new Hello(generation, Encoding.UTF8.GetString(from), Encoding.UTF8.GetString(to), (DataChannel)channel), bytes);
    }

    private static byte[] ReadName(Socket socket, int length)
    {
        if (length > MaxName) throw new InvalidDataException($"a rank name of {length} bytes (the limit is {MaxName})");
        var bytes = new byte[length];
        SocketIo.ReadAll(socket, bytes);
        return bytes;
    }

    /// <summary>For log lines: the names are the peer's words, so control characters and length are tamed.</summary>
    public override string ToString() => $"{Printable(From)} -> {Printable(To)} (generation {Generation}, channel {Channel})";

    internal static string Printable(string text)
    {
        var shown = text.Length > 64 ? text[..64] + "…" : text;
        return new string(shown.Select(c => char.IsControl(c) ? '?' : c).ToArray());
    }
}
