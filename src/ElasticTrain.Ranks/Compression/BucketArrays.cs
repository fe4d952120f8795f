namespace ElasticTrain.Ranks.Compression;

/// <summary>
/// Two arrays per bucket for a compressor's per-bucket state (<see cref="Residuals{TState}"/>): a
/// step writes the state it stages into the one the held state does not use, so an aborted step
/// leaves the held state whole, and no bucket-sized array is made per step (at 1 MiB buckets they
/// are large-object-heap allocations, whose full collections pause the process). State made
/// elsewhere (absorbed from another rank) is neither, so the first array serves. The exchange
/// thread's only.
/// </summary>
internal sealed class BucketArrays
{
    private readonly Dictionary<int, float[][]> _pairs = [];

    /// <summary>An array of <paramref name="bucket"/>'s size that is not <paramref name="held"/> (its contents are stale).</summary>
    public float[] Beside(GradientBucket bucket, float[]? held)
    {
        if (!_pairs.TryGetValue(bucket.Index, out var pair) || pair[0].Length != bucket.Count)
            _pairs[bucket.Index] = pair = [new float[bucket.Count], new float[bucket.Count]];
        return ReferenceEquals(held, pair[0]) ? pair[1] : pair[0];
    }
}
