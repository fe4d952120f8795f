using ElasticTrain.Data;
using System.Text;

namespace ElasticTrain.Tests.Data;

public class CorpusCacheTests
{
    private static readonly byte[] Content = Encoding.UTF8.GetBytes("cached corpus text\n");

    [Fact]
    public void A_written_entry_reads_back_with_its_fingerprint_in_the_name()
    {
        using var temp = new TempFolder();
        var cache = new CorpusCache(Path.Combine(temp.Path, "cache"));
        string fingerprint = new Corpus(Content, "x").Fingerprint;

        string? written = cache.TryWrite("key-1.0", Content, fingerprint);
        var hit = cache.TryRead("key-1.0");

        Assert.NotNull(written);
        Assert.Equal($"key-1.0.{fingerprint}.txt", Path.GetFileName(written));
        Assert.NotNull(hit);
        Assert.Equal(Content, hit.Value.Bytes);
        Assert.Equal(fingerprint, hit.Value.Fingerprint);
        Assert.Empty(Directory.GetFiles(cache.Directory, "*.tmp"));
    }

    [Fact]
    public void A_truncated_or_edited_entry_is_not_trusted_and_is_removed()
    {
        using var temp = new TempFolder();
        var cache = new CorpusCache(temp.Path);
        string fingerprint = new Corpus(Content, "x").Fingerprint;
        string path = cache.TryWrite("key", Content, fingerprint)!;

        File.WriteAllBytes(path, Content[..5]);

        Assert.Null(cache.TryRead("key"));
        Assert.False(File.Exists(path));
    }

    [Fact]
    public void Leftover_temporary_files_and_other_keys_are_ignored()
    {
        using var temp = new TempFolder();
        var cache = new CorpusCache(temp.Path);
        temp.Write(".key.0123456789abcdef.tmp", "partial");
        temp.Write("key.not-a-hash.txt", "junk");
        temp.Write("other.txt", "junk");

        Assert.Null(cache.TryRead("key"));
    }

    [Fact]
    public void A_missing_cache_folder_is_simply_a_miss()
    {
        using var temp = new TempFolder();
        Assert.Null(new CorpusCache(Path.Combine(temp.Path, "absent")).TryRead("key"));
    }
}
