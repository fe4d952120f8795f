namespace ElasticTrain.Checkpointing;

/// <summary>
/// Writes a whole file so that a reader sees either the old file or the new one, never half of one:
/// the bytes go to a temporary name, are flushed to the device, then renamed over the target. A
/// crash mid-write therefore leaves the previous checkpoint (or manifest) as the latest good one.
/// </summary>
internal static class AtomicFile
{
    /// <summary>Writes <paramref name="bytes"/> to <paramref name="path"/>, creating its folder if needed.</summary>
    public static void Write(string path, ReadOnlySpan<byte> bytes)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        var temporary = path + ".tmp";
        using (var stream = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            stream.Write(bytes);
            stream.Flush(flushToDisk: true);
        }
        File.Move(temporary, path, overwrite: true);
    }
}
