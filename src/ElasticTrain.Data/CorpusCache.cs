using System.Security.Cryptography;

namespace ElasticTrain.Data;

/// <summary>
/// A folder of built corpora that can be trusted without rebuilding them. Each entry is one
/// file named KEY.SHA256.txt: the hash of the content is in the name, so one atomic rename
/// publishes content and checksum together, and a partial, truncated or edited file fails the
/// check and is ignored (and removed). Checking costs one SHA-256 pass over the file, which the
/// corpus needs anyway for its fingerprint. Writes go to a temporary file in the same folder
/// and are renamed into place, so concurrent writers (several workers starting at once) can
/// only ever leave complete entries. The cache is an optimisation: failure to write it is
/// not an error.
/// </summary>
internal sealed class CorpusCache(string directory)
{
    private const string Extension = ".txt";

    public string Directory { get; } = directory;

    /// <summary>The verified bytes stored under <paramref name="key"/>, or null.</summary>
    public (byte[] Bytes, string Path, string Fingerprint)? TryRead(string key)
    {
        if (!System.IO.Directory.Exists(Directory))
        {
            return null;
        }

        // Ordinal order so that, should two valid entries exist, the choice is deterministic.
        var candidates = System.IO.Directory.EnumerateFiles(Directory, key + ".*" + Extension)
            .Order(StringComparer.Ordinal);
        foreach (string candidate in candidates)
        {
            string name = Path.GetFileName(candidate);
            string claimed = name[(key.Length + 1)..^Extension.Length];
            if (claimed.Length != 64 || claimed.Contains('.', StringComparison.Ordinal))
            {
                continue;
            }

            byte[] bytes;
            try
            {
                bytes = File.ReadAllBytes(candidate);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                continue;
            }

            string actual = Convert.ToHexStringLower(SHA256.HashData(bytes));
            if (actual == claimed)
            {
                return (bytes, candidate, actual);
            }

            TryDelete(candidate);
        }

        return null;
    }

    /// <summary>Stores <paramref name="bytes"/> under <paramref name="key"/>; returns the entry's path, or null if it could not be written.</summary>
    public string? TryWrite(string key, byte[] bytes, string fingerprint)
    {
        string final = Path.Combine(Directory, $"{key}.{fingerprint}{Extension}");
        string temporary = Path.Combine(Directory, $".{key}.{Guid.NewGuid():N}.tmp");
        try
        {
            System.IO.Directory.CreateDirectory(Directory);
            using (var stream = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                stream.Write(bytes);
                stream.Flush(flushToDisk: true);
            }

            File.Move(temporary, final, overwrite: true);
            return final;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            TryDelete(temporary);
            return null;
        }
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Best effort: a leftover file is ignored by TryRead's check anyway.
        }
    }
}
