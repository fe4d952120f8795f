namespace ElasticTrain.Data;

/// <summary>
/// SplitMix64 (Steele, Lea and Flood 2014): a tiny 64-bit generator whose whole definition
/// lives here. It is used instead of <see cref="System.Random"/> because the algorithm behind
/// System.Random is not part of its contract and has changed between .NET versions; the
/// sample order of a training run must be identical on every machine and every runtime so that
/// a job resumed elsewhere, or by a newer build, replays exactly the same batches (and the same
/// dropout masks, see ElasticTrain.Models.SampleMasks).
/// Not thread-safe (it is a mutable struct); each shuffle or mask row owns its own instance.
/// </summary>
public struct SplitMix64
{
    private const ulong Gamma = 0x9E3779B97F4A7C15UL;

    private ulong state;

    public SplitMix64(ulong seed)
    {
        state = seed;
    }

    /// <summary>The SplitMix64 finaliser: a bijective avalanche mix of 64 bits.</summary>
    public static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    public ulong Next()
    {
        state += Gamma;
        return Mix(state);
    }

    /// <summary>
    /// A uniform integer in [0, bound) by Lemire's multiply-and-reject method: unbiased, and
    /// nearly always one multiplication (the rejection branch is taken with probability
    /// below bound / 2^64).
    /// </summary>
    public ulong NextBelow(ulong bound)
    {
        if (bound == 0)
        {
            throw new ArgumentOutOfRangeException(nameof(bound), "bound must be positive");
        }

        ulong high = Math.BigMul(Next(), bound, out ulong low);
        if (low < bound)
        {
            // 2^64 mod bound, computed without 128-bit arithmetic.
            ulong threshold = (0UL - bound) % bound;
            while (low < threshold)
            {
                high = Math.BigMul(Next(), bound, out low);
            }
        }

        return high;
    }
}
