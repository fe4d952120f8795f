namespace ElasticTrain.Data;

/// <summary>
/// Splits one global batch of B samples into contiguous slices, one per worker. Contiguity is
/// what lets the slices of a step, concatenated in worker order, reproduce the step's sample
/// list exactly, whatever the number of workers: the global batch (and so the training math)
/// does not change when the cluster grows or shrinks, only who computes which part.
/// Pure functions; the output depends on nothing but the arguments.
/// </summary>
public static class SliceSplit
{
    /// <summary>
    /// <paramref name="parts"/> contiguous slices covering [0, B) exactly; sizes differ by at
    /// most one, the larger ones first.
    /// </summary>
    public static IReadOnlyList<(int Offset, int Count)> Even(int globalBatch, int parts)
    {
        CheckShape(globalBatch, parts);
        int baseSize = globalBatch / parts;
        int larger = globalBatch % parts;
        var slices = new (int Offset, int Count)[parts];
        int offset = 0;
        for (int i = 0; i < parts; i++)
        {
            int count = baseSize + (i < larger ? 1 : 0);
            slices[i] = (offset, count);
            offset += count;
        }

        return slices;
    }

    /// <summary>
    /// Contiguous slices whose sizes are proportional to <paramref name="weights"/> (for example
    /// measured worker throughput), rounded by the largest-remainder method with ties going to
    /// the lower index. Every part with a positive weight gets at least one sample, a part with
    /// weight zero gets none, and the sizes sum to exactly B.
    /// </summary>
    public static IReadOnlyList<(int Offset, int Count)> Weighted(int globalBatch, IReadOnlyList<double> weights)
    {
        ArgumentNullException.ThrowIfNull(weights);
        int parts = weights.Count;
        CheckShape(globalBatch, parts);

        // Normalise by the largest weight first so that huge weights cannot overflow the sum.
        double max = 0;
        for (int i = 0; i < parts; i++)
        {
            double w = weights[i];
            if (!double.IsFinite(w) || w < 0)
            {
                throw new ArgumentException($"weight {i} is {w}: weights must be finite and non-negative", nameof(weights));
            }

            max = Math.Max(max, w);
        }

        if (max == 0)
        {
            throw new ArgumentException("at least one weight must be positive", nameof(weights));
        }

        double total = 0;
        for (int i = 0; i < parts; i++)
        {
            total += weights[i] / max;
        }

        var counts = new int[parts];
        var quotas = new double[parts];
        int assigned = 0;
        for (int i = 0; i < parts; i++)
        {
            quotas[i] = globalBatch * (weights[i] / max) / total;
            counts[i] = (int)Math.Floor(quotas[i]);
            assigned += counts[i];
        }

        // Largest remainder: hand the seats left by flooring to the biggest fractional parts.
        // Floating-point rounding can, in rare cases, make the floors overshoot B; take back
        // from the smallest remainders then, so that the sum is exact either way.
        while (assigned < globalBatch)
        {
            int best = -1;
            for (int i = 0; i < parts; i++)
            {
                if (weights[i] > 0 && (best < 0 || quotas[i] - counts[i] > quotas[best] - counts[best]))
                {
                    best = i;
                }
            }

            counts[best]++;
            assigned++;
        }

        while (assigned > globalBatch)
        {
            int worst = -1;
            for (int i = parts - 1; i >= 0; i--)
            {
                if (counts[i] > 0 && (worst < 0 || quotas[i] - counts[i] < quotas[worst] - counts[worst]))
                {
                    worst = i;
                }
            }

            counts[worst]--;
            assigned--;
        }

        // Every positive-weight part gets at least one sample: a worker with an empty slice would
        // sit idle yet still hold up the step's all-reduce. The sample comes from the part most
        // above its quota (ties: lower index); one with two or more always exists because the
        // positive parts number at most B.
        for (int i = 0; i < parts; i++)
        {
            if (weights[i] > 0 && counts[i] == 0)
            {
                int donor = -1;
                for (int j = 0; j < parts; j++)
                {
                    if (counts[j] >= 2 && (donor < 0 || counts[j] - quotas[j] > counts[donor] - quotas[donor]))
                    {
                        donor = j;
                    }
                }

                counts[donor]--;
                counts[i]++;
            }
        }

        var slices = new (int Offset, int Count)[parts];
        int offset = 0;
        for (int i = 0; i < parts; i++)
        {
            slices[i] = (offset, counts[i]);
            offset += counts[i];
        }

        return slices;
    }

    private static void CheckShape(int globalBatch, int parts)
    {
        if (parts < 1)
        {
            throw new ArgumentException($"cannot split a batch into {parts} parts", nameof(parts));
        }

        if (globalBatch < parts)
        {
            throw new ArgumentException($"global batch {globalBatch} is smaller than the {parts} parts it must be split into", nameof(globalBatch));
        }
    }
}
