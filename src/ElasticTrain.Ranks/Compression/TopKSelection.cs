namespace ElasticTrain.Ranks.Compression;

/// <summary>
/// Pure: which entries of a bucket a rank sends under top-k. The k largest magnitudes, ties broken
/// toward the lower index, returned in index order: the same input always picks the same entries.
/// Linear time (a selection of the k-th magnitude, then one pass), not a sort of the bucket.
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
        var magnitudes = new float[values.Length];
        for (int i = 0; i < values.Length; i++) magnitudes[i] = MathF.Abs(values[i]);
        float threshold = KthLargest(magnitudes, k);
        int above = 0;
        foreach (var v in values) if (MathF.Abs(v) > threshold) above++;
        int ties = k - above, next = 0;
        for (int i = 0; i < values.Length && next < k; i++)
        {
            float m = MathF.Abs(values[i]);
            if (m > threshold || (m == threshold && ties-- > 0)) picked[next++] = i;
        }
        return picked;
    }

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

    /// <summary>The k-th largest of <paramref name="values"/> (1-based), reordering them: quickselect with a median-of-three pivot.</summary>
    private static float KthLargest(float[] values, int k)
    {
        int lo = 0, hi = values.Length - 1, target = k - 1; // descending order: index k-1
        while (lo < hi)
        {
            int mid = lo + (hi - lo) / 2;
            float a = values[lo], b = values[mid], c = values[hi];
            float pivot = Math.Max(Math.Min(a, b), Math.Min(Math.Max(a, b), c));
            int i = lo, j = hi;
            while (i <= j)
            {
                while (values[i] > pivot) i++;
                while (values[j] < pivot) j--;
                if (i <= j) { (values[i], values[j]) = (values[j], values[i]); i++; j--; }
            }
            if (target <= j) hi = j;
            else if (target >= i) lo = i;
            else return values[target];
        }
        return values[target];
    }
}
