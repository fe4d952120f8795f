using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace ElasticTrain.Checkpointing;

/// <summary>
/// One checkpoint on disk: a magic, JSON metadata, named byte sections and a trailing SHA-256 of
/// everything before it. The sections are a <see cref="NamedState"/> (one per parameter, plus its
/// format marker); files written before it hold TorchSharp's <c>model</c> and <c>optimizer</c>
/// blobs instead, in the same container, so they read as they always did. Written with
/// <see cref="AtomicFile"/>, so a crash mid-write leaves the previous checkpoint as the latest good
/// one. A pipeline stage's or parameter shard's part of a checkpoint is one of these too, holding
/// that stage's parameters or that shard's pieces of them; a <see cref="CheckpointManifest"/> lists
/// the parts, and <see cref="CheckpointReader"/> reads either shape.
/// Large tensors live here and not in the journal: a journal row of 40 MB would outrun Akka's
/// persistence timeouts and bloat every recovery.
/// </summary>
public static class CheckpointFile
{
    private static readonly byte[] Magic = "ETCKPT01"u8.ToArray();

    public sealed record Contents(CheckpointMetadata Metadata, IReadOnlyDictionary<string, byte[]> Sections);

    /// <summary>Writes atomically and returns the file's SHA-256 (lowercase hex), which the journal records.</summary>
    public static string Write(string path, CheckpointMetadata metadata, IReadOnlyDictionary<string, byte[]> sections)
    {
        using var body = new MemoryStream();
        using (var writer = new BinaryWriter(body, Encoding.UTF8, leaveOpen: true))
        {
            writer.Write(Magic);
            var json = JsonSerializer.SerializeToUtf8Bytes(metadata);
            writer.Write(json.Length);
            writer.Write(json);
            writer.Write(sections.Count);
            foreach (var (name, bytes) in sections.OrderBy(s => s.Key, StringComparer.Ordinal))
            {
                writer.Write(name);
                writer.Write((long)bytes.Length);
                writer.Write(bytes);
            }
        }
        var digest = SHA256.HashData(body.GetBuffer().AsSpan(0, (int)body.Length));
        body.Write(digest);
        AtomicFile.Write(path, body.GetBuffer().AsSpan(0, (int)body.Length));
        return Convert.ToHexStringLower(digest);
    }

    /// <summary>Reads and verifies a checkpoint; <paramref name="expectedSha256"/> (from the journal) is checked when given.</summary>
    public static Contents Read(string path, string? expectedSha256 = null) =>
        Parse(path, ReadBytes(path), expectedSha256, pinnedBy: "the journal");

    /// <summary>The whole file, or a <see cref="CheckpointException"/> naming it when it is not there.</summary>
    internal static byte[] ReadBytes(string path) => File.Exists(path)
        ? File.ReadAllBytes(path)
        : throw new CheckpointException($"checkpoint '{path}' is missing");

    /// <summary>Whether the bytes begin as this container does: how a reader tells it from a manifest, by content.</summary>
    internal static bool IsContainer(ReadOnlySpan<byte> bytes) => bytes.StartsWith(Magic);

    /// <summary>Verifies and decodes the bytes of the file at <paramref name="path"/> (named in messages).</summary>
    /// <param name="pinnedBy">Who recorded <paramref name="expectedSha256"/> (the journal, a manifest), for the message on a mismatch.</param>
    internal static Contents Parse(string path, byte[] bytes, string? expectedSha256, string pinnedBy)
    {
        if (bytes.Length < Magic.Length + 32 || !IsContainer(bytes))
            throw new CheckpointException($"checkpoint '{path}' is not an ElasticTrain checkpoint");
        var body = bytes.AsSpan(0, bytes.Length - 32);
        var digest = SHA256.HashData(body);
        if (!digest.AsSpan().SequenceEqual(bytes.AsSpan(bytes.Length - 32)))
            throw new CheckpointException($"checkpoint '{path}' is damaged (checksum mismatch)");
        CheckHash(path, Convert.ToHexStringLower(digest), expectedSha256, pinnedBy);

        using var reader = new BinaryReader(new MemoryStream(bytes, 0, body.Length), Encoding.UTF8);
        reader.ReadBytes(Magic.Length);
        var metadata = JsonSerializer.Deserialize<CheckpointMetadata>(reader.ReadBytes(reader.ReadInt32()))
            ?? throw new CheckpointException($"checkpoint '{path}' has no metadata");
        var sections = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        int count = reader.ReadInt32();
        for (int i = 0; i < count; i++)
        {
            var name = reader.ReadString();
            sections[name] = reader.ReadBytes(checked((int)reader.ReadInt64()));
        }
        return new Contents(metadata, sections);
    }

    /// <summary>Refuses a file whose SHA-256 is not the one recorded for it: a substituted file, or a stale one under a reused name.</summary>
    internal static void CheckHash(string path, string actualSha256, string? expectedSha256, string pinnedBy)
    {
        if (expectedSha256 is not null && actualSha256 != expectedSha256)
            throw new CheckpointException($"checkpoint '{path}' is not the one {pinnedBy} recorded (sha256 {actualSha256[..12]}, expected {expectedSha256[..Math.Min(12, expectedSha256.Length)]})");
    }
}
