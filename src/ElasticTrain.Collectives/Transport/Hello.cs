using System.Buffers.Binary;
using System.Net.Sockets;
using System.Text;

namespace ElasticTrain.Collectives.Transport;

/// <summary>
/// The first bytes on every data-plane connection: which rank sends to which, in which generation.
/// The listener uses it to hand the connection to the right rank; a connection of a generation the
/// rank has left behind is closed at once.
/// </summary>
public sealed record Hello(long Generation, string From, string To)
{
    private const uint Magic = 0x45544450; // "ETDP"
    private const int MaxName = 1024;

    public void Write(Socket socket)
    {
        var from = Encoding.UTF8.GetBytes(From);
        var to = Encoding.UTF8.GetBytes(To);
        var bytes = new byte[4 + 8 + 2 + from.Length + 2 + to.Length];
        var span = bytes.AsSpan();
        BinaryPrimitives.WriteUInt32LittleEndian(span, Magic);
        BinaryPrimitives.WriteInt64LittleEndian(span[4..], Generation);
        BinaryPrimitives.WriteUInt16LittleEndian(span[12..], (ushort)from.Length);
        from.CopyTo(span[14..]);
        BinaryPrimitives.WriteUInt16LittleEndian(span[(14 + from.Length)..], (ushort)to.Length);
        to.CopyTo(span[(16 + from.Length)..]);
        SocketIo.WriteAll(socket, bytes);
    }

    /// <summary>Reads a hello; throws <see cref="InvalidDataException"/> for anything that is not one.</summary>
    public static Hello Read(Socket socket)
    {
        Span<byte> head = stackalloc byte[14];
        SocketIo.ReadAll(socket, head);
        if (BinaryPrimitives.ReadUInt32LittleEndian(head) != Magic)
            throw new InvalidDataException("not an ElasticTrain data-plane connection");
        var generation = BinaryPrimitives.ReadInt64LittleEndian(head[4..]);
        var from = ReadName(socket, BinaryPrimitives.ReadUInt16LittleEndian(head[12..]));
        Span<byte> length = stackalloc byte[2];
        SocketIo.ReadAll(socket, length);
        var to = ReadName(socket, BinaryPrimitives.ReadUInt16LittleEndian(length));
        return new Hello(generation, from, to);
    }

    private static string ReadName(Socket socket, int length)
    {
        if (length > MaxName) throw new InvalidDataException($"rank name of {length} bytes");
        var bytes = new byte[length];
        SocketIo.ReadAll(socket, bytes);
        return Encoding.UTF8.GetString(bytes);
    }
}
