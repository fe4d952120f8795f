namespace ElasticTrain.Data;

/// <summary>
/// Fixed-length token windows over a byte-level corpus: window i is the W bytes starting at
/// i*(W-1). Consecutive windows share one byte, the last input of one being the first of the
/// next, so with inputs = window[0..W-1) and targets = window[1..W) every byte after the first
/// is predicted exactly once per epoch, and the bytes of the tail that do not fill a window
/// are not used. Tokens are the byte values 0..255, widened to <see cref="long"/> because that
/// is what the embedding lookup takes. Reads are pure, so concurrent readers are safe; the
/// dataset holds no copy of the corpus.
/// </summary>
public sealed class WindowDataset
{
    private readonly byte[] bytes;

    /// <param name="corpus">The text to cut into windows.</param>
    /// <param name="windowLength">W, the model's context length plus one.</param>
    public WindowDataset(Corpus corpus, int windowLength)
    {
        ArgumentNullException.ThrowIfNull(corpus);
        ArgumentOutOfRangeException.ThrowIfLessThan(windowLength, 2);
        bytes = corpus.Bytes;
        Corpus = corpus;
        WindowLength = windowLength;
        Count = (bytes.Length - 1) / (windowLength - 1);
        if (Count < 1)
        {
            throw new DataException($"data has {bytes.Length} bytes: too small for one window of {windowLength}");
        }
    }

    public Corpus Corpus { get; }

    /// <summary>W, the tokens in one window.</summary>
    public int WindowLength { get; }

    /// <summary>(bytes - 1) / (W - 1): the number of windows, i.e. samples.</summary>
    public int Count { get; }

    /// <summary>Writes window <paramref name="sampleId"/>'s W tokens into <paramref name="destination"/>.</summary>
    public void ReadWindow(int sampleId, Span<long> destination)
    {
        if ((uint)sampleId >= (uint)Count)
        {
            throw new ArgumentOutOfRangeException(nameof(sampleId), sampleId, $"sample id must be in [0, {Count})");
        }

        if (destination.Length != WindowLength)
        {
            throw new ArgumentException($"destination holds {destination.Length} tokens, a window has {WindowLength}", nameof(destination));
        }

        ReadOnlySpan<byte> source = bytes.AsSpan(sampleId * (WindowLength - 1), WindowLength);
        for (int i = 0; i < source.Length; i++)
        {
            destination[i] = source[i];
        }
    }

    /// <summary>The windows of <paramref name="sampleIds"/>, concatenated in order: a [count, W] batch, row-major.</summary>
    public long[] ReadWindows(IReadOnlyList<int> sampleIds)
    {
        ArgumentNullException.ThrowIfNull(sampleIds);
        var tokens = new long[checked(sampleIds.Count * WindowLength)];
        for (int i = 0; i < sampleIds.Count; i++)
        {
            ReadWindow(sampleIds[i], tokens.AsSpan(i * WindowLength, WindowLength));
        }

        return tokens;
    }
}
