using System.Security.Cryptography;
using System.Text;

namespace ElasticTrain.Checkpointing;

/// <summary>
/// Reads a checkpoint the journal named, whichever shape it has: one <see cref="CheckpointFile"/>
/// (as every checkpoint was before pipeline stages, including the older <c>model</c>/<c>optimizer</c>
/// layout), or a <see cref="CheckpointManifest"/> and its parts. The shape is told by the file's
/// content, not its name, so a journal written before manifests existed reads on unchanged.
/// </summary>
/// <remarks>
/// Every file read is verified: the named file against the journal's SHA-256 and each part against
/// its manifest's, so the one hash the journal holds pins them all. Only the parts that hold a
/// wanted parameter are opened: a stage of a later mesh reads its own parameters, not the model.
/// A parameter that parameter shards wrote in row pieces (<see cref="CheckpointPiece"/>) is read
/// from every part holding rows of it and returned whole, so whoever reads a checkpoint never sees
/// how it was split: a replica, a stage or shards of another plan read a shards' checkpoint alike.
/// </remarks>
public static class CheckpointReader
{
    /// <summary>
    /// The checkpoint's metadata and the sections of the parameters in <paramref name="names"/>
    /// (all when null): a <see cref="NamedState"/>'s format section plus one section per parameter,
    /// merged from whichever parts hold them. A single file in the older layout is returned whole,
    /// and only when <paramref name="names"/> is null, since only a whole replica can read it.
    /// </summary>
    /// <param name="path">The checkpoint file or manifest (a <c>CheckpointRef</c>'s path).</param>
    /// <param name="sha256">The SHA-256 the journal recorded for it.</param>
    /// <exception cref="CheckpointException">
    /// A file missing, damaged or not the one recorded, a part of another checkpoint, a wanted
    /// parameter no part holds, or pieces of one that do not join; the message names the file.
    /// </exception>
    public static CheckpointFile.Contents Read(string path, string sha256, IEnumerable<string>? names = null)
    {
        var wanted = names?.Distinct(StringComparer.Ordinal).ToList();
        var bytes = CheckpointFile.ReadBytes(path);
        if (CheckpointFile.IsContainer(bytes))
        {
            var contents = CheckpointFile.Parse(path, bytes, sha256, pinnedBy: "the journal");
            return contents with { Sections = Select(path, contents.Sections, wanted) };
        }
        CheckpointFile.CheckHash(path, Convert.ToHexStringLower(SHA256.HashData(bytes)), sha256, pinnedBy: "the journal");
        var (metadata, parts) = CheckpointManifest.Parse(path, bytes);
        return new CheckpointFile.Contents(metadata, ReadParts(path, metadata, parts, wanted));
    }

    /// <summary>
    /// The wanted parameters' sections from the parts that hold them, each part verified against the
    /// manifest; a parameter held in row pieces is read from each piece's part and joined.
    /// </summary>
    private static Dictionary<string, byte[]> ReadParts(string manifest, CheckpointMetadata metadata, IReadOnlyList<CheckpointPart> parts, List<string>? wanted)
    {
        // Every entry of every part under the parameter it holds whole, or rows of.
        var holders = parts
            .SelectMany(p => p.Parameters.Select(entry => (Part: p, Entry: entry, Piece: CheckpointPiece.Parse(entry))))
            .ToLookup(h => h.Piece?.Parameter ?? h.Entry, StringComparer.Ordinal);
        foreach (var name in wanted ?? [])
            if (!holders.Contains(name))
                throw new CheckpointException($"checkpoint '{manifest}' holds no parameter '{name}' in any of its {parts.Count} parts");
        var read = (wanted is null ? holders.SelectMany(h => h) : wanted.SelectMany(n => holders[n])).ToList();

        var folder = Path.GetDirectoryName(Path.GetFullPath(manifest))!;
        var sections = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (var part in parts)
        {
            var fromPart = read.Where(h => h.Part == part).Select(h => h.Entry).ToList();
            if (fromPart.Count == 0) continue;
            var file = Path.Combine(folder, part.File);
            var contents = CheckpointFile.Parse(file, CheckpointFile.ReadBytes(file), part.Sha256, pinnedBy: $"manifest '{manifest}'");
            var written = contents.Metadata;
            if (written.JobId != metadata.JobId || written.IdentityHash != metadata.IdentityHash || written.Step != metadata.Step)
                throw new CheckpointException($"checkpoint part '{file}' is of job '{written.JobId}' step {written.Step}, its manifest of job '{metadata.JobId}' step {metadata.Step}");
            foreach (var (name, bytes) in Select(file, contents.Sections, fromPart))
                if (!sections.TryAdd(name, bytes) && name == NamedState.FormatSection && !bytes.AsSpan().SequenceEqual(sections[name]))
                    throw new CheckpointException($"checkpoint part '{file}' is in format '{Encoding.UTF8.GetString(bytes)}', an earlier part in '{Encoding.UTF8.GetString(sections[name])}'");
        }
        sections.TryAdd(NamedState.FormatSection, Encoding.UTF8.GetBytes(NamedState.Format)); // nothing wanted: an empty state
        foreach (var pieces in read.Where(h => h.Piece is not null).GroupBy(h => h.Piece!.Parameter, StringComparer.Ordinal))
            Join(manifest, sections, [.. pieces.Select(h => h.Piece!)]);
        return sections;
    }

    /// <summary>Replaces the sections of one parameter's pieces with the whole parameter's section.</summary>
    /// <exception cref="CheckpointException">The pieces do not join (see <see cref="ParameterPieces.Join"/>); the message names the parameter and the manifest.</exception>
    private static void Join(string manifest, Dictionary<string, byte[]> sections, IReadOnlyList<CheckpointPiece> pieces)
    {
        var name = pieces[0].Parameter;
        // Pieces came with format 2 (named slots); the joined section is written in it too.
        var format = Encoding.UTF8.GetString(sections[NamedState.FormatSection]);
        if (format != NamedState.Format)
            throw new CheckpointException($"checkpoint '{manifest}' holds parameter '{name}' in pieces written in format '{format}', which has none; this build joins pieces of '{NamedState.Format}'");
        ParameterState joined;
        try
        {
            joined = ParameterPieces.Join([.. pieces.Select(p => (p, ParameterState.Decode(p.ToString(), sections[NamedState.ParameterPrefix + p])))]);
        }
        catch (ArgumentException e)
        {
            throw new CheckpointException($"checkpoint '{manifest}': {e.Message}");
        }
        foreach (var piece in pieces) sections.Remove(NamedState.ParameterPrefix + piece);
        sections[NamedState.ParameterPrefix + name] = joined.Encode();
    }

    /// <summary>
    /// The format section and the sections of <paramref name="wanted"/> (all when null). The format
    /// is checked in full later by <see cref="NamedState.FromSections"/>; here only that it is one.
    /// </summary>
    private static IReadOnlyDictionary<string, byte[]> Select(string file, IReadOnlyDictionary<string, byte[]> sections, List<string>? wanted)
    {
        if (wanted is null) return sections;
        if (!NamedState.IsNamed(sections))
            throw new CheckpointException($"checkpoint '{file}' is in the older model/optimizer layout, which only a whole replica reads whole; it has no parameters by name");
        var selected = new Dictionary<string, byte[]>(StringComparer.Ordinal) { [NamedState.FormatSection] = sections[NamedState.FormatSection] };
        foreach (var name in wanted)
            selected[NamedState.ParameterPrefix + name] = sections.TryGetValue(NamedState.ParameterPrefix + name, out var bytes)
                ? bytes
                : throw new CheckpointException($"checkpoint '{file}' holds no parameter '{name}'");
        return selected;
    }
}
