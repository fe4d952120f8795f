using ElasticTrain.Data;
using System.Text;

namespace ElasticTrain.Tests.Data;

public class WindowDatasetTests
{
    private static Corpus Text(string text) => new(Encoding.ASCII.GetBytes(text), "test");

    [Fact]
    public void Windows_start_every_W_minus_one_bytes_and_hold_W_bytes()
    {
        var dataset = new WindowDataset(Text("abcdefghijk"), windowLength: 4);

        // (11 - 1) / 3 = 3 windows; the 'k' left over does not fill a fourth.
        Assert.Equal(3, dataset.Count);
        Assert.Equal("abcd", Window(dataset, 0));
        Assert.Equal("defg", Window(dataset, 1));
        Assert.Equal("ghij", Window(dataset, 2));
    }

    [Fact]
    public void Every_byte_but_the_first_is_a_target_exactly_once_when_windows_fill_the_corpus()
    {
        var random = new Random(5);
        var bytes = new byte[1 + (9 * 50)];
        random.NextBytes(bytes);
        var dataset = new WindowDataset(new Corpus(bytes, "random"), windowLength: 10);
        Assert.Equal(50, dataset.Count);

        var targets = new List<byte>();
        var window = new long[10];
        for (int i = 0; i < dataset.Count; i++)
        {
            dataset.ReadWindow(i, window);
            targets.AddRange(window[1..].Select(t => (byte)t));
        }

        Assert.Equal(bytes[1..], targets);
    }

    [Fact]
    public void Tokens_are_unsigned_byte_values()
    {
        var dataset = new WindowDataset(new Corpus([0, 127, 128, 255], "edge bytes"), windowLength: 4);
        var window = new long[4];
        dataset.ReadWindow(0, window);
        Assert.Equal([0L, 127L, 128L, 255L], window);
    }

    [Fact]
    public void ReadWindows_concatenates_the_requested_windows_in_order()
    {
        var dataset = new WindowDataset(Text("abcdefghijk"), windowLength: 4);
        long[] batch = dataset.ReadWindows([2, 0, 2]);
        Assert.Equal("ghijabcdghij", new string(batch.Select(t => (char)t).ToArray()));
    }

    [Fact]
    public void A_corpus_of_exactly_one_window_gives_one_sample()
    {
        Assert.Equal(1, new WindowDataset(Text("abcde"), windowLength: 5).Count);
    }

    [Fact]
    public void A_corpus_smaller_than_a_window_is_a_data_error()
    {
        var error = Assert.Throws<DataException>(() => new WindowDataset(Text("abc"), windowLength: 5));
        Assert.Equal("data has 3 bytes: too small for one window of 5", error.Message);
    }

    [Fact]
    public void Bad_sample_ids_and_buffers_are_argument_errors()
    {
        var dataset = new WindowDataset(Text("abcdefghijk"), windowLength: 4);
        Assert.Throws<ArgumentOutOfRangeException>(() => dataset.ReadWindow(3, new long[4]));
        Assert.Throws<ArgumentOutOfRangeException>(() => dataset.ReadWindow(-1, new long[4]));
        Assert.Throws<ArgumentException>(() => dataset.ReadWindow(0, new long[3]));
        Assert.Throws<ArgumentOutOfRangeException>(() => new WindowDataset(Text("abc"), windowLength: 1));
    }

    private static string Window(WindowDataset dataset, int id)
    {
        var tokens = new long[dataset.WindowLength];
        dataset.ReadWindow(id, tokens);
        return new string(tokens.Select(t => (char)t).ToArray());
    }
}
