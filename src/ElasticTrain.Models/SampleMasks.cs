using System.Runtime.InteropServices;
using ElasticTrain.Data;
using static TorchSharp.torch;

namespace ElasticTrain.Models;

/// <summary>
/// Dropout for one forward pass whose mask depends on the sample, not on the batch: the mask of
/// a row at a site is drawn from a generator seeded by (job seed, sample id, step, site) alone.
/// So a sample is dropped alike whether it runs alone, in a rank's slice, in a pass of a slice or
/// in a pipeline micro-batch, at whatever row, which keeps the loss curve independent of the mesh.
/// Ordinary dropout (one draw per batch tensor) would tie the masks to how the batch was split.
/// </summary>
/// <remarks>
/// The masks come from <see cref="SplitMix64"/> on the CPU, not from a torch.Generator: its whole
/// definition is ours, so masks do not change with the libtorch version or the device, and it
/// seeds with 64 bits (libtorch's CPU generator keeps 32 of a seed). Cost: one 64-bit draw per two
/// activations, computed on one thread, plus the copy of the mask to the activations' device.
/// </remarks>
public sealed class SampleMasks
{
    private readonly int[] _sampleIds;
    private readonly uint _threshold;
    private readonly float _scale;

    /// <param name="probability">The chance that an activation is zeroed, in [0, 1).</param>
    /// <param name="seed">The job's seed.</param>
    /// <param name="step">The step being computed.</param>
    /// <param name="sampleIds">The sample id of each row of the batch the pass runs, in row order.</param>
    public SampleMasks(double probability, long seed, long step, IReadOnlyList<int> sampleIds)
    {
        ArgumentNullException.ThrowIfNull(sampleIds);
        if (!(probability >= 0 && probability < 1))
            throw new ArgumentOutOfRangeException(nameof(probability), probability, "A dropout probability is in [0, 1).");
        Probability = probability;
        Seed = seed;
        Step = step;
        _sampleIds = [.. sampleIds];
        // Keep a value when its 32 random bits are at least p * 2^32: dropped with probability p.
        _threshold = (uint)(probability * 4294967296.0);
        _scale = (float)(1 / (1 - probability));
    }

    /// <summary>The masks of a pass over <paramref name="sampleIds"/>; null when <paramref name="probability"/> is 0 (no dropout).</summary>
    public static SampleMasks? For(double probability, long seed, long step, IReadOnlyList<int> sampleIds) =>
        probability > 0 ? new SampleMasks(probability, seed, step, sampleIds) : null;

    public double Probability { get; }

    public long Seed { get; }

    public long Step { get; }

    /// <summary>The sample id of each row, in row order.</summary>
    public IReadOnlyList<int> SampleIds => _sampleIds;

    /// <summary>
    /// Inverted dropout of <paramref name="x"/> [rows, ...] at <paramref name="site"/>: each value is
    /// zeroed or scaled by 1 / (1 - p), by its row's sample's own mask. The identity when p is 0.
    /// </summary>
    /// <exception cref="ArgumentException">x does not have one row per sample id.</exception>
    public Tensor Apply(Tensor x, DropoutSite site)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.dim() == 0 || x.shape[0] != _sampleIds.Length)
            throw new ArgumentException($"Dropout masks for {_sampleIds.Length} samples, got a tensor of shape [{string.Join(", ", x.shape)}].", nameof(x));
        if (Probability == 0) return x;
        using var mask = empty(x.shape, ScalarType.Float32);
        var values = MemoryMarshal.Cast<byte, float>(mask.bytes);
        int row = checked((int)(values.Length / _sampleIds.Length));
        for (int r = 0; r < _sampleIds.Length; r++)
            Fill(values.Slice(r * row, row), new SplitMix64(RowSeed(Seed, _sampleIds[r], Step, site)));
        using var onDevice = mask.to(x.dtype, x.device);
        return x.mul(onDevice);
    }

    /// <summary>The generator seed of one sample's mask at one step and site: every input mixed in by the SplitMix64 finaliser.</summary>
    public static ulong RowSeed(long seed, int sampleId, long step, DropoutSite site)
    {
        var h = SplitMix64.Mix((ulong)seed);
        h = SplitMix64.Mix(h ^ (uint)sampleId);
        h = SplitMix64.Mix(h ^ (ulong)step);
        return SplitMix64.Mix(h ^ (uint)site.Index);
    }

    /// <summary>One row's mask: 0 or the scale, two values from each 64-bit draw.</summary>
    private void Fill(Span<float> row, SplitMix64 rng)
    {
        int i = 0;
        for (; i + 1 < row.Length; i += 2)
        {
            var bits = rng.Next();
            row[i] = (uint)bits >= _threshold ? _scale : 0f;
            row[i + 1] = (uint)(bits >> 32) >= _threshold ? _scale : 0f;
        }
        if (i < row.Length) row[i] = (uint)rng.Next() >= _threshold ? _scale : 0f;
    }
}
