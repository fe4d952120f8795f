using System.Security.Cryptography;
using System.Text.Json;

namespace ElasticTrain.Checkpointing;

/// <summary>
/// A checkpoint written in parts, one per pipeline stage or parameter shard: a small JSON file holding
/// the checkpoint's metadata and, for each part, its file, SHA-256 and parameter names. The journal's
/// <c>CheckpointRef</c> names the manifest and carries the manifest's SHA-256, so the one record it
/// has always held pins every part without changing its shape (journaled events must keep theirs).
/// Parameters are listed by their whole-model names, so any mesh, with any stage layout or none,
/// reads the parts it needs with no conversion step (see <see cref="CheckpointReader"/>); a shard's
/// part lists the rows it holds of a split parameter as a <see cref="CheckpointPiece"/>, and the
/// reader joins them.
/// </summary>
public static class CheckpointManifest
{
    /// <summary>The first property of every manifest: how a reader tells one from a single-file checkpoint, by content.</summary>
    public const string Format = "elastictrain.checkpoint-manifest/1";

    private sealed record Document(string Format, CheckpointMetadata Metadata, IReadOnlyList<CheckpointPart> Parts);

    private static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.CamelCase, WriteIndented = true };

    /// <summary>
    /// Writes the manifest atomically and returns its SHA-256 (lowercase hex), which the journal
    /// records. Written after the parts, so a manifest never names a part still being written.
    /// </summary>
    /// <param name="parts">
    /// Each part's file as a name in the manifest's folder, or as a path into that folder (stored as
    /// its name). The parts are not opened here: the writer of the manifest need not hold them.
    /// </param>
    /// <exception cref="ArgumentException">A parameter in two parts, rows of one in none or in two, a file listed twice or outside the folder, or a malformed hash.</exception>
    public static string Write(string path, CheckpointMetadata metadata, IReadOnlyList<CheckpointPart> parts)
    {
        var folder = Path.GetDirectoryName(Path.GetFullPath(path))!;
        var listed = parts.Select(p => p with { File = NameInFolder(folder, p.File) }).ToList();
        Validate(listed);
        var bytes = JsonSerializer.SerializeToUtf8Bytes(new Document(Format, metadata, listed), Json);
        AtomicFile.Write(path, bytes);
        return Convert.ToHexStringLower(SHA256.HashData(bytes));
    }

    /// <summary>
    /// Decodes a manifest's bytes. <see cref="CheckpointReader"/> checks their hash first; the store's
    /// pruning reads a manifest only for the files it lists, trusting nothing else in it.
    /// </summary>
    /// <exception cref="CheckpointException">Not a manifest, another version of one, or a listing that breaks its rules; the message names <paramref name="path"/>.</exception>
    internal static (CheckpointMetadata Metadata, IReadOnlyList<CheckpointPart> Parts) Parse(string path, byte[] bytes)
    {
        Document? document;
        try
        {
            document = JsonSerializer.Deserialize<Document>(bytes, Json);
        }
        catch (JsonException)
        {
            document = null;
        }
        if (document?.Format is null)
            throw new CheckpointException($"checkpoint '{path}' is not an ElasticTrain checkpoint");
        if (document.Format != Format)
            throw new CheckpointException($"checkpoint '{path}' is a manifest of format '{document.Format}'; this build reads '{Format}'");
        try
        {
            if (document.Metadata is null || document.Parts is null)
                throw new ArgumentException("it lacks the metadata or the list of parts");
            Validate(document.Parts);
        }
        catch (ArgumentException e)
        {
            throw new CheckpointException($"checkpoint '{path}' is a malformed manifest: {e.Message}");
        }
        return (document.Metadata, document.Parts);
    }

    /// <summary>
    /// Each row of each parameter in one part only: two copies could differ, and which one a mesh
    /// loaded would depend on its layout. A parameter is either whole in one part or in row pieces
    /// (<see cref="CheckpointPiece"/>) that hold its rows once each.
    /// </summary>
    private static void Validate(IReadOnlyList<CheckpointPart> parts)
    {
        var files = new HashSet<string>(StringComparer.Ordinal);
        var owners = new Dictionary<string, string>(StringComparer.Ordinal);
        var pieces = new Dictionary<string, List<CheckpointPiece>>(StringComparer.Ordinal);
        foreach (var part in parts)
        {
            if (part?.File is null || part.Sha256 is null || part.Parameters is null)
                throw new ArgumentException("a part lacks its file, hash or parameter list", nameof(parts));
            if (part.File.Length == 0 || part.File != Path.GetFileName(part.File) || part.File is "." or "..")
                throw new ArgumentException($"part '{part.File}' is not a file name in the manifest's folder", nameof(parts));
            if (!files.Add(part.File))
                throw new ArgumentException($"part '{part.File}' is listed twice", nameof(parts));
            if (part.Sha256.Length != 64 || !part.Sha256.All(char.IsAsciiHexDigitLower))
                throw new ArgumentException($"part '{part.File}' has no lowercase hex SHA-256 ('{part.Sha256}')", nameof(parts));
            foreach (var entry in part.Parameters)
            {
                if (entry is null)
                    throw new ArgumentException($"part '{part.File}' lists a parameter without a name", nameof(parts));
                if (!owners.TryAdd(entry, part.File))
                    throw new ArgumentException($"parameter '{entry}' is in two parts, '{owners[entry]}' and '{part.File}'", nameof(parts));
                if (CheckpointPiece.Parse(entry) is not { } piece) continue;
                if (!pieces.TryGetValue(piece.Parameter, out var held)) pieces[piece.Parameter] = held = [];
                held.Add(piece);
            }
        }
        foreach (var (name, held) in pieces)
        {
            if (owners.TryGetValue(name, out var whole))
                throw new ArgumentException($"parameter '{name}' is whole in part '{whole}' and in pieces as well ({string.Join(", ", held)})", nameof(parts));
            CheckpointPiece.CheckCovers(name, held);
        }
    }

    /// <summary>A part's file as its name in <paramref name="folder"/>; a path elsewhere would not move with the folder.</summary>
    private static string NameInFolder(string folder, string file)
    {
        if (!Path.IsPathRooted(file)) return file;
        if (!string.Equals(Path.GetDirectoryName(Path.GetFullPath(file)), folder, StringComparison.Ordinal))
            throw new ArgumentException($"part '{file}' is not in the manifest's folder '{folder}'", nameof(file));
        return Path.GetFileName(file);
    }
}
