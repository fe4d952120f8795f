namespace ElasticTrain.Checkpointing;

/// <summary>
/// The folder that holds a job's checkpoint files: <c>{root}/{job-id}/step-{step:D9}.ckpt</c>.
/// The journal names which file is current; older files are pruned down to <see cref="Keep"/>.
/// </summary>
public sealed class CheckpointStore(string root, int keep = 3)
{
    public string Root { get; } = Path.GetFullPath(root);

    public int Keep { get; } = keep;

    public string PathFor(string jobId, long step) => Path.Combine(Root, jobId, $"step-{step:D9}.ckpt");

    /// <summary>Deletes all but the newest <see cref="Keep"/> checkpoints of a job, never <paramref name="current"/>.</summary>
    public void Prune(string jobId, string current)
    {
        var folder = Path.Combine(Root, jobId);
        if (!Directory.Exists(folder)) return;
        var files = Directory.GetFiles(folder, "step-*.ckpt").OrderDescending(StringComparer.Ordinal).ToList();
        foreach (var stale in files.Skip(Keep))
            if (!string.Equals(Path.GetFullPath(stale), Path.GetFullPath(current), StringComparison.Ordinal))
                File.Delete(stale);
    }
}
