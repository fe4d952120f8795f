using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace ElasticTrain.Data;

/// <summary>
/// The corpus used when no --data is given: the XML documentation of the .NET SDK reference
/// pack as plain text (files in ordinal order of name), about 12 MB. Building it parses
/// ~37 MB of XML, 0.5 to 1 s on two cores, paid by every worker at every start; with a cache
/// folder the text is built once per SDK version and afterwards read back, verified, in
/// tens of milliseconds.
/// </summary>
internal static class DefaultCorpus
{
    /// <summary>
    /// Bump when the text extraction changes, so caches built by older code are not reused.
    /// </summary>
    private const int FormatVersion = 1;

    public static Corpus Load(string? cacheDirectory) => Load(cacheDirectory, ReferencePack.Find());

    /// <summary>Loads from a given pack; null means none was found.</summary>
    internal static Corpus Load(string? cacheDirectory, ReferencePack? found)
    {
        ReferencePack pack = found
            ?? throw new DataException("no default corpus: the .NET SDK reference pack was not found; pass --data PATH");
        string description = $"default corpus: .NET SDK reference docs {pack.Version} {pack.Tfm} ({pack.XmlFiles.Count} files in {pack.Directory})";
        string key = $"default-corpus-{Sanitize(pack.Version)}-{Sanitize(pack.Tfm)}-v{FormatVersion}";

        CorpusCache? cache = string.IsNullOrEmpty(cacheDirectory) ? null : new CorpusCache(cacheDirectory);
        if (cache?.TryRead(key) is { } hit)
        {
            return new Corpus(hit.Bytes, $"{description}, cached in '{hit.Path}'", hit.Fingerprint);
        }

        var watch = Stopwatch.StartNew();
        byte[] bytes = Build(pack);
        watch.Stop();
        var corpus = new Corpus(bytes, string.Create(CultureInfo.InvariantCulture, $"{description}, built in {watch.Elapsed.TotalSeconds:0.00} s"));
        cache?.TryWrite(key, bytes, corpus.Fingerprint);
        return corpus;
    }

    /// <summary>
    /// Parses the files in parallel (one text per file, joined in the pack's file order, so
    /// the result does not depend on scheduling) and encodes the text as UTF-8 without a BOM.
    /// Peak memory is about three times the text: the per-file strings, the joined string
    /// and the bytes.
    /// </summary>
    internal static byte[] Build(ReferencePack pack)
    {
        var texts = new string[pack.XmlFiles.Count];
        var failures = new Exception?[texts.Length];
        Parallel.For(0, texts.Length, i =>
        {
            try
            {
                var text = new StringBuilder();
                DocXmlText.AppendMembers(pack.XmlFiles[i], text);
                texts[i] = text.ToString();
            }
            catch (Exception e) when (e is System.Xml.XmlException or IOException or UnauthorizedAccessException)
            {
                failures[i] = e;
            }
        });

        // The first broken file in pack order, not whichever thread failed first, so the
        // message is the same on every run.
        for (int i = 0; i < failures.Length; i++)
        {
            if (failures[i] is { } e)
            {
                throw new DataException($"no default corpus: cannot read '{pack.XmlFiles[i]}': {e.Message}; pass --data PATH", e);
            }
        }

        string joined = string.Concat(texts);
        if (joined.Length == 0)
        {
            throw new DataException($"no default corpus: the reference pack in '{pack.Directory}' has no documentation text; pass --data PATH");
        }

        return new UTF8Encoding(encoderShouldEmitUTF8Identifier: false).GetBytes(joined);
    }

    /// <summary>Keeps cache file names to a safe alphabet whatever a version folder is called.</summary>
    private static string Sanitize(string value)
    {
        var safe = new StringBuilder(value.Length);
        foreach (char c in value)
        {
            safe.Append(char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '+' ? c : '_');
        }

        return safe.ToString();
    }
}
