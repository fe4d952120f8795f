using ElasticTrain.Data;

namespace ElasticTrain.Tests;

/// <summary>
/// A small slice of the real default corpus (the .NET SDK's XML docs), written once per test run:
/// real text, but small enough that jobs over it load in milliseconds.
/// </summary>
public static class TinyCorpus
{
    private static readonly Lazy<string> File_ = new(() =>
    {
        var folder = Path.Combine(Path.GetTempPath(), "elastictrain-tests");
        Directory.CreateDirectory(folder);
        var corpus = Corpus.Load(null, Path.Combine(folder, "corpus-cache"));
        var path = Path.Combine(folder, $"tiny-{corpus.Fingerprint[..12]}.txt");
        if (!File.Exists(path))
        {
            var temporary = path + "." + Guid.NewGuid().ToString("N");
            File.WriteAllBytes(temporary, corpus.Bytes.AsSpan(0, 64 * 1024).ToArray());
            File.Move(temporary, path, overwrite: true);
        }
        return path;
    });

    public static string Path_ => File_.Value;
}
