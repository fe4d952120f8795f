namespace ElasticTrain.Ranks;

/// <summary>
/// A run of parameters whose gradients are exchanged together: parameters
/// [<paramref name="FirstParameter"/>, <paramref name="EndParameter"/>) of the backward order, at
/// [<paramref name="Offset"/>, Offset + <paramref name="Count"/>) in the flat gradient buffer. It
/// can go once backward has completed stage <paramref name="ReadyStage"/>.
/// </summary>
/// <param name="Shapes">The shape of each of its parameters, in order (what compression by matrices needs); null when unknown.</param>
public sealed record GradientBucket(int Index, int FirstParameter, int EndParameter, int Offset, int Count, int ReadyStage,
    IReadOnlyList<long[]>? Shapes = null)
{
    /// <summary>
    /// Cuts parameters (in the order backward finishes them) into buckets of at least
    /// <paramref name="capacity"/> values each, the last one excepted; a capacity of 0 makes one
    /// bucket of everything. Pure: every member computes the same buckets from the same model.
    /// </summary>
    public static IReadOnlyList<GradientBucket> Plan(IReadOnlyList<int> sizes, IReadOnlyList<int> stages, long capacity)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(capacity);
        var buckets = new List<GradientBucket>();
        int first = 0, offset = 0, count = 0, ready = 0;
        for (int i = 0; i < sizes.Count; i++)
        {
            count += sizes[i];
            ready = Math.Max(ready, stages[i]);
            bool last = i == sizes.Count - 1;
            if (last || (capacity > 0 && count >= capacity))
            {
                buckets.Add(new GradientBucket(buckets.Count, first, i + 1, offset, count, ready));
                first = i + 1;
                offset += count;
                count = 0;
                ready = 0;
            }
        }
        return buckets;
    }
}
