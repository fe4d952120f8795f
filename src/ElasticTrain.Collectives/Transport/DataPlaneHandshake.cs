using System.Buffers.Binary;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;

namespace ElasticTrain.Collectives.Transport;

/// <summary>
/// The first bytes of every data-plane connection: mutual proof of the job's secret, then the hello.
/// Anything that can reach the data port could otherwise feed gradients into a job; a peer that
/// cannot sign with the secret is dropped before a single frame of it is read.
/// <code>
/// listener  -> connector  challenge: magic u32 | version u16 | listener nonce (32 bytes)
/// connector -> listener   hello (see <see cref="Hello"/>) | connector nonce (32) |
///                         HMAC-SHA256(secret, "ETDP/1 hello"  | listener nonce | connector nonce | hello)
/// listener  -> connector  HMAC-SHA256(secret, "ETDP/1 accept" | listener nonce | connector nonce | hello)
/// </code>
/// Mutual, because it costs one 32-byte answer: the connector also learns that the listener holds
/// the secret before it sends gradients there (a stale address now bound by another job's process
/// or by anyone else fails the handshake instead of receiving them). Each side's fresh nonce makes
/// every signature single-use, so a recorded handshake cannot be replayed, and the labels keep a
/// hello signature from being reflected as an accept. Signatures are compared in constant time.
/// The frames after the handshake are neither signed nor encrypted: this authenticates peers, it
/// does not protect the bytes from someone who can alter traffic on the wire.
/// </summary>
public static class DataPlaneHandshake
{
    public const int NonceSize = 32;
    public const int MacSize = 32;
    public const int ChallengeSize = 4 + 2 + NonceSize;
    /// <summary>Shorter secrets are refused: the secret is the only thing between the port and the job.</summary>
    public const int MinSecretBytes = 16;

    private static readonly byte[] HelloLabel = Encoding.ASCII.GetBytes("ETDP/1 hello");
    private static readonly byte[] AcceptLabel = Encoding.ASCII.GetBytes("ETDP/1 accept");

    /// <summary>
    /// The listener's side. Returns the hello once it is proven to come from a holder of
    /// <paramref name="secret"/> and <paramref name="admit"/> (given the proven hello, null or the
    /// reason to refuse) agreed; throws <see cref="InvalidDataException"/> with the reason otherwise.
    /// </summary>
    public static Hello Answer(Socket socket, byte[] secret, Func<Hello, string?> admit)
    {
        var challenge = new byte[ChallengeSize];
        BinaryPrimitives.WriteUInt32LittleEndian(challenge, Hello.Magic);
        BinaryPrimitives.WriteUInt16LittleEndian(challenge.AsSpan(4), Hello.Version);
        RandomNumberGenerator.Fill(challenge.AsSpan(6));
        SocketIo.WriteAll(socket, challenge);
        var listenerNonce = challenge.AsSpan(6);

        var (hello, bytes) = Hello.Read(socket);
        var tail = new byte[NonceSize + MacSize];
        SocketIo.ReadAll(socket, tail);
        var connectorNonce = tail.AsSpan(0, NonceSize);
        if (!CryptographicOperations.FixedTimeEquals(tail.AsSpan(NonceSize), Mac(secret, HelloLabel, listenerNonce, connectorNonce, bytes)))
            throw new InvalidDataException($"hello {hello} is not signed with this job's data-plane secret");
        if (admit(hello) is { } refusal) throw new InvalidDataException($"hello {hello}: {refusal}");
        SocketIo.WriteAll(socket, Mac(secret, AcceptLabel, listenerNonce, connectorNonce, bytes));
        return hello;
    }

    /// <summary>
    /// The connector's side: answers the challenge with <paramref name="hello"/> and checks the
    /// listener's proof. Throws <see cref="InvalidDataException"/> when the other end is not a
    /// data plane of this job, or refused the hello.
    /// </summary>
    public static void Offer(Socket socket, byte[] secret, Hello hello)
    {
        var challenge = new byte[ChallengeSize];
        try { SocketIo.ReadAll(socket, challenge); }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionReset)
        {
            throw new InvalidDataException("closed the connection before its challenge (not a data plane?)");
        }
        if (BinaryPrimitives.ReadUInt32LittleEndian(challenge) != Hello.Magic)
            throw new InvalidDataException("not an ElasticTrain data plane");
        var version = BinaryPrimitives.ReadUInt16LittleEndian(challenge.AsSpan(4));
        if (version != Hello.Version)
            throw new InvalidDataException($"it speaks data-plane protocol version {version}; this process speaks {Hello.Version}");
        var listenerNonce = challenge.AsSpan(6);

        var bytes = hello.Encode();
        var connectorNonce = RandomNumberGenerator.GetBytes(NonceSize);
        SocketIo.WriteAll(socket, [.. bytes, .. connectorNonce, .. Mac(secret, HelloLabel, listenerNonce, connectorNonce, bytes)]);

        var answer = new byte[MacSize];
        try { SocketIo.ReadAll(socket, answer); }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionReset)
        {
            // The listener says why in its own log; this side can only guess.
            throw new InvalidDataException("it refused the hello: another data-plane secret (another job?), or the rank or generation is gone there");
        }
        if (!CryptographicOperations.FixedTimeEquals(answer, Mac(secret, AcceptLabel, listenerNonce, connectorNonce, bytes)))
            throw new InvalidDataException("it does not hold this job's data-plane secret");
    }

    /// <summary>Throws unless <paramref name="secret"/> is long enough to be a secret.</summary>
    public static byte[] CheckSecret(byte[] secret)
    {
        if (secret.Length < MinSecretBytes)
            throw new ArgumentException($"the data-plane secret must have at least {MinSecretBytes} bytes, not {secret.Length}", nameof(secret));
        return secret;
    }

    private static byte[] Mac(byte[] secret, byte[] label, ReadOnlySpan<byte> listenerNonce, ReadOnlySpan<byte> connectorNonce, byte[] hello)
    {
        // Every part but the last has a fixed length, so the concatenation is unambiguous.
        using var hmac = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, secret);
        hmac.AppendData(label);
        hmac.AppendData(listenerNonce);
        hmac.AppendData(connectorNonce);
        hmac.AppendData(hello);
        return hmac.GetHashAndReset();
    }
}
