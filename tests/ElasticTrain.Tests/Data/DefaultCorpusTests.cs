using ElasticTrain.Data;
using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;
using Xunit.Abstractions;

namespace ElasticTrain.Tests.Data;

/// <summary>
/// Loads the real default corpus three ways, once for the whole class, because each build
/// parses ~37 MB of XML: built into an empty cache, read back from that cache, and built again
/// with no cache.
/// </summary>
public sealed class DefaultCorpusFixture : IDisposable
{
    private readonly TempFolder cacheFolder = new();

    public DefaultCorpusFixture()
    {
        var watch = Stopwatch.StartNew();
        Built = Corpus.Load(null, cacheFolder.Path);
        BuildTime = watch.Elapsed;

        watch.Restart();
        Cached = Corpus.Load(null, cacheFolder.Path);
        CachedTime = watch.Elapsed;

        Rebuilt = Corpus.Load(path: null);
    }

    public string CacheDirectory => cacheFolder.Path;

    public Corpus Built { get; }

    public Corpus Cached { get; }

    public Corpus Rebuilt { get; }

    public TimeSpan BuildTime { get; }

    public TimeSpan CachedTime { get; }

    public void Dispose() => cacheFolder.Dispose();
}

public class DefaultCorpusTests(DefaultCorpusFixture fixture, ITestOutputHelper output) : IClassFixture<DefaultCorpusFixture>
{
    // Documentation markup that extraction must remove. '<' alone can't be the test: the prose
    // itself has escaped text such as "Task<T>" and "<item/>".
    private static readonly Regex DocTag = new(
        @"</?(summary|remarks|param|paramref|typeparam|typeparamref|returns|see|seealso|member|members|para|exception|value|example|inheritdoc|doc|list|listheader|term|description)\b[^<>]*>",
        RegexOptions.CultureInvariant);

    [Fact]
    public void The_default_corpus_is_megabytes_of_plain_text()
    {
        output.WriteLine($"{fixture.Built.Bytes.Length} bytes; built in {fixture.BuildTime.TotalSeconds:0.000} s, cached load {fixture.CachedTime.TotalSeconds:0.000} s");
        output.WriteLine(fixture.Built.Source);

        Assert.True(fixture.Built.Bytes.Length > 1_000_000, $"only {fixture.Built.Bytes.Length} bytes");
        string text = Encoding.UTF8.GetString(fixture.Built.Bytes);
        Assert.DoesNotMatch(DocTag, text);
        Assert.DoesNotContain("cref=", text, StringComparison.Ordinal);
        Assert.DoesNotContain("  ", text, StringComparison.Ordinal);
        Assert.DoesNotContain("\n\n", text, StringComparison.Ordinal);
        Assert.Contains("Represents text as a sequence of UTF-16 code units.", text, StringComparison.Ordinal);
    }

    [Fact]
    public void The_default_corpus_is_identical_every_time_it_is_built()
    {
        Assert.Equal(fixture.Built.Fingerprint, fixture.Rebuilt.Fingerprint);
        Assert.Equal(fixture.Built.Bytes, fixture.Rebuilt.Bytes);
    }

    [Fact]
    public void The_second_load_reads_the_verified_cache()
    {
        string entry = Assert.Single(Directory.GetFiles(fixture.CacheDirectory));

        Assert.Contains("built in", fixture.Built.Source, StringComparison.Ordinal);
        Assert.Contains($"cached in '{entry}'", fixture.Cached.Source, StringComparison.Ordinal);
        Assert.Equal(fixture.Built.Fingerprint, fixture.Cached.Fingerprint);
        Assert.Equal(fixture.Built.Bytes, fixture.Cached.Bytes);
        Assert.Contains(fixture.Built.Fingerprint, Path.GetFileName(entry), StringComparison.Ordinal);
        Assert.Contains("10.0", Path.GetFileName(entry), StringComparison.Ordinal);
    }

    [Fact]
    public void A_cache_for_another_pack_version_is_not_used()
    {
        // A small made-up pack whose text differs from the real one: same cache folder, a
        // different version in the key, so it builds its own entry instead of reading the real one.
        using var temp = new TempFolder();
        temp.Write(
            "packs/Microsoft.NETCore.App.Ref/1.2.3/ref/net10.0/A.xml",
            """<doc><members><member name="T:A"><summary>Tiny   pack.</summary></member></members></doc>""");
        using var cache = new TempFolder();
        var pack = ReferencePack.FindUnder(temp.Path)!;
        File.Copy(
            Directory.GetFiles(fixture.CacheDirectory).Single(),
            Path.Combine(cache.Path, Path.GetFileName(Directory.GetFiles(fixture.CacheDirectory).Single())));

        var corpus = DefaultCorpus.Load(cache.Path, pack);

        Assert.Equal("Tiny pack.\n", Encoding.UTF8.GetString(corpus.Bytes));
        Assert.Equal(2, Directory.GetFiles(cache.Path).Length);
    }
}
