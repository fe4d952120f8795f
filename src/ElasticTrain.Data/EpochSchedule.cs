namespace ElasticTrain.Data;

/// <summary>
/// The sampler: which sample ids make up each global step. It is a pure function of
/// (seed, sample count, global batch, step), so any worker, joining at any step, computes the
/// same batches without talking to anyone, and a run resumed from a checkpoint at step k
/// replays from exactly where it stopped. Steps are numbered from 0.
///
/// Each epoch is its own seeded Fisher–Yates permutation of [0, N); an epoch has
/// N / B steps and the N mod B samples left at the end of a permutation are dropped for that
/// epoch (a different tail each epoch, so no sample is starved). Reads are thread-safe.
///
/// Memory: the most recently used epoch's permutation is kept, 4 bytes per sample
/// (40 MB for ten million samples); building it costs one pass of N random draws.
///
/// Over a subset of the windows (the training ids when some are held out for evaluation, see
/// <see cref="HeldOutSplit"/>), the permutation of [0, N) picks positions in the subset: N is the
/// subset's size, and the ids are the subset's. Over all windows it is the same as before.
/// </summary>
public sealed class EpochSchedule
{
    private readonly object gate = new();
    private int cachedEpoch = -1;
    private int[]? cachedPermutation;
    private readonly int[]? sampleIds; // null: the samples are [0, SampleCount)

    public EpochSchedule(long seed, int sampleCount, int globalBatch)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(sampleCount);
        ArgumentOutOfRangeException.ThrowIfLessThan(globalBatch, 1);
        if (sampleCount / globalBatch == 0)
        {
            throw new DataException($"global batch {globalBatch} is larger than the {sampleCount} samples of the data");
        }

        Seed = seed;
        SampleCount = sampleCount;
        GlobalBatch = globalBatch;
        StepsPerEpoch = sampleCount / globalBatch;
    }

    /// <summary>A schedule over the samples <paramref name="ids"/> only: the epochs permute them, and nothing else.</summary>
    public EpochSchedule(long seed, IReadOnlyList<int> ids, int globalBatch)
        : this(seed, ids.Count, globalBatch)
    {
        sampleIds = [.. ids];
    }

    public long Seed { get; }

    public int SampleCount { get; }

    public int GlobalBatch { get; }

    /// <summary>N / B: full batches per epoch; the tail that does not fill one is dropped.</summary>
    public int StepsPerEpoch { get; }

    public int EpochOf(long step)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(step);
        long epoch = step / StepsPerEpoch;
        if (epoch > int.MaxValue)
        {
            throw new ArgumentOutOfRangeException(nameof(step), step, "step is beyond the last representable epoch");
        }

        return (int)epoch;
    }

    /// <summary>The position of <paramref name="step"/> within its epoch, 0 .. StepsPerEpoch-1.</summary>
    public int StepInEpoch(long step)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(step);
        return (int)(step % StepsPerEpoch);
    }

    /// <summary>
    /// The sample ids at positions [s*B + offset, s*B + offset + count) of the epoch's
    /// permutation, where s is the step's index within its epoch: one worker's slice of the step.
    /// </summary>
    public int[] SampleIds(long step, int offset, int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        if ((long)offset + count > GlobalBatch)
        {
            throw new ArgumentOutOfRangeException(nameof(count), $"slice [{offset}, {(long)offset + count}) exceeds the global batch of {GlobalBatch}");
        }

        int[] permutation = PermutationOf(EpochOf(step));
        int start = StepInEpoch(step) * GlobalBatch + offset;
        return permutation.AsSpan(start, count).ToArray();
    }

    /// <summary>The whole global batch of <paramref name="step"/>.</summary>
    public int[] StepSampleIds(long step) => SampleIds(step, 0, GlobalBatch);

    /// <summary>A copy of epoch <paramref name="epoch"/>'s full permutation of the samples.</summary>
    public int[] EpochPermutation(int epoch)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(epoch);
        return (int[])PermutationOf(epoch).Clone();
    }

    /// <summary>
    /// The cached permutation for <paramref name="epoch"/>, built on a miss. The returned array
    /// is shared and must never be written; callers hand out copies. It is built outside the
    /// lock so a reader of the cached epoch is never blocked behind a rebuild.
    /// </summary>
    private int[] PermutationOf(int epoch)
    {
        lock (gate)
        {
            if (cachedEpoch == epoch && cachedPermutation is not null)
            {
                return cachedPermutation;
            }
        }

        int[] built = Shuffle(Seed, epoch, SampleCount);
        if (sampleIds is not null)
        {
            for (int i = 0; i < built.Length; i++)
            {
                built[i] = sampleIds[built[i]];
            }
        }

        lock (gate)
        {
            cachedEpoch = epoch;
            cachedPermutation = built;
        }

        return built;
    }

    /// <summary>
    /// Fisher–Yates (Durstenfeld) shuffle of [0, n). The generator is seeded by mixing the run
    /// seed and the epoch through the SplitMix64 finaliser, so neighbouring seeds or epochs give
    /// unrelated streams. Changing anything here changes every run's data order: the golden
    /// test pins it.
    /// </summary>
    internal static int[] Shuffle(long seed, int epoch, int n)
    {
        var permutation = new int[n];
        for (int i = 0; i < n; i++)
        {
            permutation[i] = i;
        }

        ulong mixedSeed = SplitMix64.Mix((ulong)seed) ^ SplitMix64.Mix(((ulong)epoch + 1) * 0xD1B54A32D192ED03UL);
        var rng = new SplitMix64(mixedSeed);
        for (int i = n - 1; i > 0; i--)
        {
            int j = (int)rng.NextBelow((ulong)i + 1);
            (permutation[i], permutation[j]) = (permutation[j], permutation[i]);
        }

        return permutation;
    }
}
