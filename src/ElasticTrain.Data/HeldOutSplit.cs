namespace ElasticTrain.Data;

/// <summary>
/// Which windows a job keeps out of training to measure itself on: a pure function of
/// (seed, window count, fraction), so every node, a resumed job and <c>elastictrain eval</c> all
/// hold out the very same windows without being told which. Held out are round(N * fraction)
/// windows, at least one and at most <see cref="MaxWindows"/> (so that an evaluation costs about a
/// few training steps however large the corpus), chosen by a seeded partial Fisher–Yates draw.
/// Training uses the others (<see cref="Training"/>); with nothing held out it uses all N, exactly
/// as before the split existed.
/// </summary>
public sealed class HeldOutSplit
{
    /// <summary>The most windows held out: 256 windows are a few global batches of a small job.</summary>
    public const int MaxWindows = 256;

    private HeldOutSplit(int windows, int[] heldOut, int[]? training)
    {
        Windows = windows;
        HeldOut = heldOut;
        Training = training;
    }

    /// <summary>Nothing held out: training reads every window.</summary>
    public static HeldOutSplit None(int windows) => new(windows, [], null);

    /// <summary>The windows of the corpus.</summary>
    public int Windows { get; }

    /// <summary>The held-out window ids, ascending; empty when nothing is held out.</summary>
    public IReadOnlyList<int> HeldOut { get; }

    /// <summary>The ids training reads, ascending; null when nothing is held out (all of [0, N)).</summary>
    public IReadOnlyList<int>? Training { get; }

    /// <summary>How many windows <see cref="Of"/> holds out of <paramref name="windows"/> at <paramref name="fraction"/>.</summary>
    public static int CountFor(int windows, double fraction)
    {
        if (windows < 2) throw new DataException($"data has {windows} window(s): too few to hold any out for evaluation");
        if (!(fraction > 0 && fraction < 1)) throw new ArgumentOutOfRangeException(nameof(fraction), fraction, "the held-out fraction must be in (0, 1)");
        return (int)Math.Clamp(Math.Round(windows * fraction, MidpointRounding.AwayFromZero), 1, Math.Min(MaxWindows, windows - 1));
    }

    /// <summary>The windows <paramref name="seed"/> holds out of <paramref name="windows"/> at <paramref name="fraction"/>.</summary>
    /// <remarks>Costs one array of N ids and one random draw per held-out window.</remarks>
    public static HeldOutSplit Of(long seed, int windows, double fraction)
    {
        int count = CountFor(windows, fraction);
        var ids = new int[windows];
        for (int i = 0; i < windows; i++) ids[i] = i;
        // Its own stream: neither the epoch permutations' (seed mixed with the epoch) nor the model's.
        var rng = new SplitMix64(SplitMix64.Mix((ulong)seed) ^ SplitMix64.Mix(0x4845_4C44_4F55_5400UL)); // "HELDOUT"
        for (int i = windows - 1; i >= windows - count; i--)
        {
            int j = (int)rng.NextBelow((ulong)i + 1);
            (ids[i], ids[j]) = (ids[j], ids[i]);
        }
        var heldOut = ids.AsSpan(windows - count).ToArray();
        var training = ids.AsSpan(0, windows - count).ToArray();
        Array.Sort(heldOut);
        Array.Sort(training);
        return new HeldOutSplit(windows, heldOut, training);
    }
}
