using System.Diagnostics;
using System.Security.Cryptography;

namespace ElasticTrain.Data;

/// <summary>
/// The training text as raw bytes, with a description for logs and a fingerprint that
/// identifies it: workers compare fingerprints to make sure they all train on the same data,
/// and a checkpoint records it so a resume on different data is caught.
/// </summary>
public sealed class Corpus
{
    public Corpus(byte[] bytes, string source)
        : this(bytes, source, FingerprintOf(bytes ?? throw new ArgumentNullException(nameof(bytes))))
    {
    }

    /// <summary>For bytes whose hash is already known (a verified cache entry): saves a second SHA-256 pass.</summary>
    internal Corpus(byte[] bytes, string source, string fingerprint)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        ArgumentNullException.ThrowIfNull(source);
        Bytes = bytes;
        Source = source;
        Fingerprint = fingerprint;
    }

    /// <summary>The text. Shared, not copied: treat it as read-only.</summary>
    public byte[] Bytes { get; }

    /// <summary>Where the bytes came from, for people (logs, status output).</summary>
    public string Source { get; }

    /// <summary>Lowercase hex SHA-256 of <see cref="Bytes"/> (about 0.1 s for 30 MB).</summary>
    public string Fingerprint { get; }

    /// <summary>
    /// Loads the corpus named by <paramref name="path"/>:
    /// null or empty for the default corpus (the .NET SDK reference documentation as text),
    /// a file for its bytes as-is, a folder for all regular files below it in ordinal order of
    /// relative path, joined with '\n'.
    /// </summary>
    /// <param name="path">A file, a folder, or null/empty for the default corpus.</param>
    /// <param name="cacheDirectory">
    /// Where the default corpus may keep its built text (a verified cache that turns a
    /// second-long XML pass into a file read); null to build it every time. Ignored for paths.
    /// </param>
    /// <exception cref="DataException">The path is missing or holds no text, or no default corpus can be found.</exception>
    public static Corpus Load(string? path, string? cacheDirectory = null)
    {
        if (string.IsNullOrEmpty(path))
        {
            return DefaultCorpus.Load(cacheDirectory);
        }

        if (File.Exists(path))
        {
            return LoadFile(path);
        }

        if (Directory.Exists(path))
        {
            return LoadFolder(path);
        }

        throw new DataException($"data path '{path}' does not exist");
    }

    internal static string FingerprintOf(byte[] bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));

    private static Corpus LoadFile(string path)
    {
        byte[] bytes = ReadBytes(path, path);
        if (bytes.Length == 0)
        {
            throw new DataException($"data path '{path}' contains no text");
        }

        return new Corpus(bytes, $"file '{path}' ({bytes.Length} bytes)");
    }

    /// <summary>
    /// Every regular file below <paramref name="root"/>. Hidden files are included (nothing is
    /// skipped silently: what is in the folder is what is trained on); symbolic links to folders
    /// are not followed, which rules out cycles. Ordinal order of '/'-separated relative paths
    /// makes the byte order the same on every machine and culture. The files are held in
    /// memory once each and then once joined, so loading peaks at twice the corpus size.
    /// </summary>
    private static Corpus LoadFolder(string root)
    {
        var files = new List<(string Relative, string FullPath)>();
        Collect(new DirectoryInfo(root), root, files);
        files.Sort((a, b) => string.CompareOrdinal(a.Relative, b.Relative));

        var contents = new List<byte[]>(files.Count);
        long total = Math.Max(0, files.Count - 1);
        long text = 0;
        foreach (var (_, fullPath) in files)
        {
            byte[] content = ReadBytes(fullPath, root);
            contents.Add(content);
            total += content.Length;
            text += content.Length;
        }

        if (text == 0)
        {
            throw new DataException($"data path '{root}' contains no text");
        }

        if (total > Array.MaxLength)
        {
            throw new DataException($"data path '{root}' holds {total} bytes: more than the {Array.MaxLength} one corpus can hold");
        }

        var bytes = new byte[total];
        int at = 0;
        for (int i = 0; i < contents.Count; i++)
        {
            if (i > 0)
            {
                bytes[at++] = (byte)'\n';
            }

            contents[i].CopyTo(bytes, at);
            at += contents[i].Length;
        }

        Debug.Assert(at == bytes.Length, "every byte of the joined corpus is written");
        return new Corpus(bytes, $"folder '{root}' ({files.Count} files, {bytes.Length} bytes)");
    }

    private static void Collect(DirectoryInfo directory, string root, List<(string Relative, string FullPath)> files)
    {
        var options = new EnumerationOptions
        {
            AttributesToSkip = 0,
            IgnoreInaccessible = false,
            RecurseSubdirectories = false,
            ReturnSpecialDirectories = false,
        };

        IEnumerable<FileSystemInfo> entries;
        try
        {
            entries = directory.EnumerateFileSystemInfos("*", options).ToList();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new DataException($"data path '{root}': cannot list '{directory.FullName}': {e.Message}", e);
        }

        foreach (var entry in entries)
        {
            if (entry is DirectoryInfo sub)
            {
                if (sub.LinkTarget is null)
                {
                    Collect(sub, root, files);
                }
            }
            else if (entry is FileInfo)
            {
                string relative = Path.GetRelativePath(root, entry.FullName).Replace(Path.DirectorySeparatorChar, '/');
                files.Add((relative, entry.FullName));
            }
        }
    }

    private static byte[] ReadBytes(string file, string dataPath)
    {
        try
        {
            return File.ReadAllBytes(file);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new DataException($"data path '{dataPath}': cannot read '{file}': {e.Message}", e);
        }
    }
}
