namespace ElasticTrain.Ranks.Compression;

/// <summary>
/// Pure: which entries of a bucket a rank sends under top-k. The k largest magnitudes, ties broken
/// toward the lower index, returned in index order: the same input always picks the same entries.
/// Linear time (a radix selection of the k-th magnitude, then two passes), not a sort of the bucket.
/// </summary>
public static class TopKSelection
{
    /// <summary>How many entries of <paramref name="count"/> a rank sends at <paramref name="ratio"/>: ceil(ratio·count), at least one of a non-empty bucket.</summary>
    public static int K(int count, double ratio) => count == 0 ? 0 : (int)Math.Clamp(Math.Ceiling(ratio * count), 1, count);

    /// <summary>The indices of the <paramref name="k"/> largest |values|, ascending.</summary>
    public static int[] Select(ReadOnlySpan<float> values, int k)
    {
        if (k < 0 || k > values.Length) throw new ArgumentOutOfRangeException(nameof(k));
        var picked = new int[k];
        if (k == 0) return picked;
        uint threshold = KthLargestMagnitude(values, k);
        int above = 0;
        foreach (var v in values) if (Magnitude(v) > threshold) above++;
        int ties = k - above, next = 0;
        for (int i = 0; i < values.Length && next < k; i++)
        {
            uint m = Magnitude(values[i]);
            if (m > threshold || (m == threshold && ties-- > 0)) picked[next++] = i;
        }
        return picked;
    }

    /// <summary>|v| as its bits: for non-negative floats (NaN above infinity) the bits order as the values do.</summary>
    private static uint Magnitude(float v) => BitConverter.SingleToUInt32Bits(v) & 0x7FFF_FFFF;
    /// <summary>
    /// Moves what a rank sends out of <paramref name="accumulated"/> (the gradient plus the residual):
    /// afterwards it holds the residual, zero at the returned indices, and the returned values are
    /// what was there, so residual + sent = accumulated exactly.
    /// </summary>
    public static (int[] Indices, float[] Values) Take(Span<float> accumulated, int k)
    {
        var indices = Select(accumulated, k);
        var values = new float[k];
        for (int j = 0; j < k; j++)
        {
            values[j] = accumulated[indices[j]];
            accumulated[indices[j]] = 0;
        }
        return (indices, values);
    }

    /// <summary>
    /// The bits of the k-th largest magnitude (1-based): a radix selection, counting the high 16 bits
    /// of every magnitude, then the low 15 bits of those in the bucket that holds the k-th. Two
    /// counting passes of fixed cost, where a quickselect's pivots make its time vary with the data.
    /// </summary>
    private static uint KthLargestMagnitude(ReadOnlySpan<float> values, int k)
    {
        var counts = System.Buffers.ArrayPool<int>.Shared.Rent(1 << 16);
        try
        {
            Array.Clear(counts, 0, 1 << 16);
            foreach (var v in values) counts[Magnitude(v) >> 15]++;
            int high = (1 << 16) - 1, remaining = k;
            while (counts[high] < remaining) remaining -= counts[high--];

            Array.Clear(counts, 0, 1 << 15);
            foreach (var v in values)
            {
                uint m = Magnitude(v);
                if (m >> 15 == (uint)high) counts[m & 0x7FFF]++;
            }
            int low = (1 << 15) - 1;
            while (counts[low] < remaining) remaining -= counts[low--];
            return ((uint)high << 15) | (uint)low;
        }
        finally
        {
            System.Buffers.ArrayPool<int>.Shared.Return(counts);
        }
    }
}
