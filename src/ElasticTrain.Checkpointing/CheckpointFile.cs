using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace ElasticTrain.Checkpointing;

/// <summary>
/// One checkpoint on disk: a magic, JSON metadata, named byte sections and a trailing SHA-256 of
/// everything before it. The sections are a <see cref="NamedState"/> (one per parameter, plus its
/// format marker); files written before it hold TorchSharp's <c>model</c> and <c>optimizer</c>
/// blobs instead, in the same container, so they read as they always did. Written to a temporary
/// name, flushed to the device, then renamed, so a crash mid-write leaves the previous checkpoint
/// as the latest good one.
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
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        var temporary = path + ".tmp";
        using (var stream = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            using (var body = new MemoryStream())
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
                writer.Flush();
                body.Position = 0;
                body.CopyTo(stream);
                hash.AppendData(body.GetBuffer(), 0, (int)body.Length);
            }
            var digest = hash.GetHashAndReset();
            stream.Write(digest);
            stream.Flush(flushToDisk: true);
            File.Move(temporary, path, overwrite: true);
            return Convert.ToHexStringLower(digest);
        }
    }

    /// <summary>Reads and verifies a checkpoint; <paramref name="expectedSha256"/> (from the journal) is checked when given.</summary>
    public static Contents Read(string path, string? expectedSha256 = null)
    {
        if (!File.Exists(path))
            throw new CheckpointException($"checkpoint '{path}' is missing");
        var bytes = File.ReadAllBytes(path);
        if (bytes.Length < Magic.Length + 32 || !bytes.AsSpan(0, Magic.Length).SequenceEqual(Magic))
            throw new CheckpointException($"checkpoint '{path}' is not an ElasticTrain checkpoint");
        var body = bytes.AsSpan(0, bytes.Length - 32);
        var digest = SHA256.HashData(body);
        if (!digest.AsSpan().SequenceEqual(bytes.AsSpan(bytes.Length - 32)))
            throw new CheckpointException($"checkpoint '{path}' is damaged (checksum mismatch)");
        var hex = Convert.ToHexStringLower(digest);
        if (expectedSha256 is not null && hex != expectedSha256)
            throw new CheckpointException($"checkpoint '{path}' is not the one the journal recorded (sha256 {hex[..12]}, expected {expectedSha256[..Math.Min(12, expectedSha256.Length)]})");

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
}
