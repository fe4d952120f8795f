using System.Text.RegularExpressions;

namespace ElasticTrain.Checkpointing;

/// <summary>
/// The folder that holds a job's checkpoints, <c>{root}/{job-id}/</c>: for step k either one file,
/// <c>step-{k:D9}.ckpt</c>, or a manifest <c>step-{k:D9}.manifest.json</c> with one part per pipeline
/// stage or parameter shard, <c>step-{k:D9}.part-{s+1}-of-{P}.ckpt</c> (stage or shard 0 of 4 writes
/// <c>part-1-of-4</c>). The
/// journal names which checkpoint is current; older ones are pruned down to <see cref="Keep"/>.
/// </summary>
public sealed partial class CheckpointStore(string root, int keep = 3)
{
    public string Root { get; } = Path.GetFullPath(root);

    /// <summary>How many checkpoints (single files or manifests with their parts) pruning leaves.</summary>
    public int Keep { get; } = keep;

    /// <summary>Where a single-file checkpoint of <paramref name="step"/> goes.</summary>
    public string PathFor(string jobId, long step) => Path.Combine(Root, jobId, $"{StepName(step)}.ckpt");

    /// <summary>Where the manifest of a checkpoint of <paramref name="step"/> written in parts goes: the path the journal records.</summary>
    public string ManifestPathFor(string jobId, long step) => Path.Combine(Root, jobId, $"{StepName(step)}.manifest.json");

    /// <summary>
    /// Where part <paramref name="part"/> (from 0) of <paramref name="parts"/> of the checkpoint of
    /// <paramref name="step"/> goes: a pipeline stage's, or a parameter shard's (its index).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The part is not one of the parts.</exception>
    public string PartPathFor(string jobId, long step, int part, int parts)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(parts, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(part);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(part, parts);
        return Path.Combine(Root, jobId, $"{StepName(step)}.part-{part + 1}-of-{parts}.ckpt");
    }

    private static string StepName(long step) => $"step-{step:D9}";

    /// <summary>
    /// Deletes all but the newest <see cref="Keep"/> checkpoints of a job, never <paramref name="current"/>
    /// (the one the journal names). A checkpoint in parts goes as a whole: its manifest, then the
    /// parts it lists; the parts of a kept manifest stay, whatever their names. Parts older than
    /// <paramref name="current"/> that no kept manifest lists are what a write cut short left
    /// behind, and go too; newer ones may still be being written, and stay.
    /// </summary>
    public void Prune(string jobId, string current)
    {
        var folder = Path.Combine(Root, jobId);
        if (!Directory.Exists(folder)) return;
        current = Path.GetFullPath(current);
        var files = Directory.GetFiles(folder)
            .Select(f => (Path: Path.GetFullPath(f), Name: StoredName.Parse(Path.GetFileName(f))))
            .Where(f => f.Name is not null)
            .ToList();
        var checkpoints = files.Where(f => !f.Name!.IsPart)
            .OrderByDescending(f => f.Name!.Step).ThenByDescending(f => f.Path, StringComparer.Ordinal)
            .Select(f => f.Path).ToList();
        var kept = checkpoints.Take(Keep).Append(current).ToHashSet(StringComparer.Ordinal);
        var keptParts = kept.SelectMany(ListedParts).ToHashSet(StringComparer.Ordinal);

        foreach (var stale in checkpoints.Where(c => !kept.Contains(c)))
        {
            var parts = ListedParts(stale);
            File.Delete(stale);
            foreach (var part in parts.Where(p => !keptParts.Contains(p)))
                File.Delete(part);
        }

        if (StoredName.Parse(Path.GetFileName(current)) is not { } currentName) return;
        var keptSteps = kept.Select(k => StoredName.Parse(Path.GetFileName(k))?.Step).ToHashSet();
        foreach (var (path, name) in files.Where(f => f.Name!.IsPart && f.Name.Step < currentName.Step))
            if (!keptSteps.Contains(name!.Step) && !keptParts.Contains(path))
                File.Delete(path);
    }

    /// <summary>
    /// The full paths of the parts a manifest lists; none for a single file, a file gone, or one that
    /// does not read as a manifest (its parts are then left to the sweep of unlisted parts).
    /// Only the first bytes of a single file are read.
    /// </summary>
    private static IReadOnlyList<string> ListedParts(string path)
    {
        try
        {
            using (var stream = File.OpenRead(path))
            {
                Span<byte> start = stackalloc byte[16];
                if (CheckpointFile.IsContainer(start[..stream.ReadAtLeast(start, start.Length, throwOnEndOfStream: false)]))
                    return [];
            }
            var folder = Path.GetDirectoryName(path)!;
            return [.. CheckpointManifest.Parse(path, File.ReadAllBytes(path)).Parts.Select(p => Path.Combine(folder, p.File))];
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or CheckpointException)
        {
            return [];
        }
    }

    /// <summary>A file name this store gives: the step it is of, and whether it is a stage's part.</summary>
    private sealed record StoredName(long Step, bool IsPart)
    {
        public static StoredName? Parse(string fileName) =>
            Pattern().Match(fileName) is { Success: true } match
                ? new StoredName(long.Parse(match.Groups["step"].Value), match.Groups["part"].Success)
                : null;
    }

    [GeneratedRegex(@"^step-(?<step>\d{1,18})\.(ckpt|manifest\.json|(?<part>part-\d+-of-\d+)\.ckpt)$")]
    private static partial Regex Pattern();
}
