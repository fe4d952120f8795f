using System.Buffers.Binary;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using ElasticTrain.Collectives.Transport;

namespace ElasticTrain.Tests.Collectives;

/// <summary>
/// What a stranger who can reach a data port might send, one connection per kind, and what the
/// listener should answer: nothing but closing the connection. Shared with the process tests
/// (linked into ElasticTrain.Tests.Processes).
/// </summary>
public static class DataPlaneGarbage
{
    public enum Kind
    {
        RandomBytes, WrongMagic, TruncatedHello, OversizedName, UnknownVersion, UnknownChannel, BadGeneration,
        /// <summary>A well-formed hello, signed, but with another secret, then a frame.</summary>
        WrongSecret,
        /// <summary>Wrong secret, then a frame header announcing 2^31-1 values: never read.</summary>
        WrongSecretThenOversizedFrame,
        /// <summary>Wrong secret, then half a frame and EOF: never read.</summary>
        WrongSecretThenTruncatedFrame,
    }

    /// <summary>A fragment of the listener's warning for each kind.</summary>
    public static string Reason(Kind kind) => kind switch
    {
        Kind.RandomBytes or Kind.WrongMagic => "wrong magic",
        Kind.TruncatedHello => "closed the connection during the handshake",
        Kind.OversizedName => "rank name of 65535 bytes",
        Kind.UnknownVersion => "protocol version 99",
        Kind.UnknownChannel => "unknown data channel 77",
        Kind.BadGeneration => "generation -3",
        _ => "not signed with this job's data-plane secret",
    };

    /// <summary>
    /// Connects to 127.0.0.1:<paramref name="port"/> as a stranger claiming to send to
    /// <paramref name="to"/>, sends one kind of garbage, and returns once the listener has closed
    /// the connection; throws if the listener accepted or said anything but its challenge.
    /// </summary>
    public static void Send(int port, Kind kind, string to, TimeSpan timeout)
    {
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        socket.Connect("127.0.0.1", port);
        socket.ReceiveTimeout = (int)timeout.TotalMilliseconds;
        var challenge = new byte[DataPlaneHandshake.ChallengeSize];
        ReadAll(socket, challenge);

        var hello = new Hello(1, "intruder", to).Encode();
        byte[] bytes;
        switch (kind)
        {
            case Kind.RandomBytes:
                bytes = RandomNumberGenerator.GetBytes(300);
                bytes[0] = (byte)'X';
                break;
            case Kind.WrongMagic:
                bytes = [.. "XXXX"u8, .. hello.AsSpan(4)];
                break;
            case Kind.TruncatedHello:
                bytes = hello[..10];
                break;
            case Kind.OversizedName:
                bytes = [.. hello, .. new byte[100]];
                BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(16), ushort.MaxValue);
                break;
            case Kind.UnknownVersion:
                bytes = hello;
                BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(4), 99);
                break;
            case Kind.UnknownChannel:
                bytes = hello;
                BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(6), 77);
                break;
            case Kind.BadGeneration:
                bytes = hello;
                BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(8), -3);
                break;
            default:
                var header = new byte[FrameHeader.Size];
                new FrameHeader(1, 0, 0, 0, 0, kind == Kind.WrongSecretThenOversizedFrame ? int.MaxValue : 1000).Write(header);
                var values = new byte[kind == Kind.WrongSecretThenTruncatedFrame ? 1000 : 4000];
                bytes = [.. SignedHello(RandomNumberGenerator.GetBytes(32), challenge, hello), .. header, .. values];
                break;
        }
        socket.Send(bytes);
        if (kind is Kind.TruncatedHello or Kind.WrongSecretThenTruncatedFrame) socket.Shutdown(SocketShutdown.Send);

        // The listener must close without a word: no accept, no error message to learn from.
        var rest = new byte[64];
        try
        {
            int read = socket.Receive(rest);
            if (read > 0) throw new InvalidOperationException($"the listener answered {kind} with {read} bytes instead of closing");
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionReset)
        {
            // Closed with our bytes unread: a reset instead of an orderly close.
        }
    }

    /// <summary>The connector's half of the handshake (hello, nonce, signature), written out independently of the product's code.</summary>
    public static byte[] SignedHello(byte[] secret, byte[] challenge, byte[] hello)
    {
        var nonce = RandomNumberGenerator.GetBytes(DataPlaneHandshake.NonceSize);
        byte[] message = [.. Encoding.ASCII.GetBytes("ETDP/1 hello"), .. challenge.AsSpan(6), .. nonce, .. hello];
        var mac = HMACSHA256.HashData(secret, message);
        return [.. hello, .. nonce, .. mac];
    }

    private static void ReadAll(Socket socket, Span<byte> bytes)
    {
        while (bytes.Length > 0)
        {
            int read = socket.Receive(bytes);
            if (read == 0) throw new InvalidOperationException("the listener closed before its challenge");
            bytes = bytes[read..];
        }
    }
}
