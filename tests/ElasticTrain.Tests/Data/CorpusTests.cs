using ElasticTrain.Data;
using System.Text;

namespace ElasticTrain.Tests.Data;

public class CorpusTests
{
    [Fact]
    public void A_file_loads_as_its_bytes_unchanged()
    {
        using var temp = new TempFolder();
        byte[] content = [0xEF, 0xBB, 0xBF, (byte)'a', (byte)'\r', (byte)'\n', 0x00, 0xFF];
        string file = temp.Write("data.bin", content);

        var corpus = Corpus.Load(file);

        Assert.Equal(content, corpus.Bytes);
        Assert.Contains(file, corpus.Source, StringComparison.Ordinal);
    }

    [Fact]
    public void A_folder_loads_every_file_below_it_in_ordinal_order_of_relative_path_joined_by_newlines()
    {
        using var temp = new TempFolder();
        temp.Write("a/z.txt", "A/Z");
        temp.Write("a-b.txt", "A-B");
        temp.Write("B.txt", "CAPITAL B");
        temp.Write(".hidden", "HIDDEN");
        temp.Write("a/deeper/x.txt", "DEEP");

        var corpus = Corpus.Load(temp.Path);

        // Ordinal: '.' < 'B' < 'a', and "a-b" < "a/..." because '-' (0x2D) < '/' (0x2F), so
        // the order is by whole relative path, not folder by folder.
        Assert.Equal("HIDDEN\nCAPITAL B\nA-B\nDEEP\nA/Z", Encoding.UTF8.GetString(corpus.Bytes));
        Assert.Contains("5 files", corpus.Source, StringComparison.Ordinal);
    }

    [Fact]
    public void Empty_files_in_a_folder_still_get_their_separator()
    {
        using var temp = new TempFolder();
        temp.Write("1", "one");
        temp.Write("2", "");
        temp.Write("3", "three");

        Assert.Equal("one\n\nthree", Encoding.UTF8.GetString(Corpus.Load(temp.Path).Bytes));
    }

    [Fact]
    public void The_fingerprint_is_the_lowercase_hex_sha256_of_the_bytes()
    {
        var corpus = new Corpus(Encoding.ASCII.GetBytes("abc"), "abc");
        Assert.Equal("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", corpus.Fingerprint);
    }

    [Fact]
    public void A_missing_path_is_a_data_error_naming_it()
    {
        using var temp = new TempFolder();
        string missing = Path.Combine(temp.Path, "x", "y");

        var error = Assert.Throws<DataException>(() => Corpus.Load(missing));

        Assert.Equal($"data path '{missing}' does not exist", error.Message);
    }

    [Fact]
    public void An_empty_file_is_a_data_error()
    {
        using var temp = new TempFolder();
        string file = temp.Write("empty.txt", "");

        var error = Assert.Throws<DataException>(() => Corpus.Load(file));

        Assert.Equal($"data path '{file}' contains no text", error.Message);
    }

    [Fact]
    public void An_empty_folder_is_a_data_error()
    {
        using var temp = new TempFolder();
        Directory.CreateDirectory(Path.Combine(temp.Path, "only", "folders"));

        var error = Assert.Throws<DataException>(() => Corpus.Load(temp.Path));

        Assert.Equal($"data path '{temp.Path}' contains no text", error.Message);
    }

    [Fact]
    public void A_folder_of_empty_files_is_a_data_error()
    {
        using var temp = new TempFolder();
        temp.Write("a", "");
        temp.Write("b/c", "");

        var error = Assert.Throws<DataException>(() => Corpus.Load(temp.Path));

        Assert.Equal($"data path '{temp.Path}' contains no text", error.Message);
    }
}
