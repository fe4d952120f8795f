using ElasticTrain.Collectives;
using ElasticTrain.Collectives.Compression;
using ElasticTrain.Collectives.Transport;

namespace ElasticTrain.Tests.Collectives;

/// <summary>
/// The ring's compressed exchanges on the real data plane: the 16-bit all-reduce (its rounding,
/// that every rank ends with the same bits, half the bytes) and the all-gather of blocks.
/// </summary>
public sealed class CompressedRingTests : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);
    private readonly List<IDisposable> _owned = [];
    private readonly byte[] _secret = System.Security.Cryptography.RandomNumberGenerator.GetBytes(32);

    /// <summary>n rings' ports: every rank on its own transport (TCP), or all on one (shared memory).</summary>
    private (RankPort[] Ports, ExchangeMember[] Members) Ring(int n, bool tcp)
    {
        var shared = new TensorTransport("127.0.0.1", _secret);
        _owned.Add(shared);
        var ports = Enumerable.Range(0, n).Select(p =>
        {
            var transport = shared;
            if (tcp && p > 0) { transport = new TensorTransport("127.0.0.1", _secret); _owned.Add(transport); }
            return transport.Open($"r{p}");
        }).ToArray();
        return (ports, ports.Select(p => new ExchangeMember(p.Rank, p.Address)).ToArray());
    }

    private static float[][] RandomBuffers(int n, int length, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => Enumerable.Range(0, length).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray()).ToArray();
    }

    private static void OnEveryRank(int n, Action<int> work) =>
        Task.WaitAll(Enumerable.Range(0, n).Select(p => Task.Factory.StartNew(() => work(p), TaskCreationOptions.LongRunning)).ToArray());

    public static TheoryData<HalfFormat, int, int, bool> Shapes()
    {
        var data = new TheoryData<HalfFormat, int, int, bool>();
        foreach (var format in Enum.GetValues<HalfFormat>())
        {
            foreach (var n in new[] { 2, 3, 4 })
                foreach (var length in new[] { 0, 1, 7, 1001 })
                    data.Add(format, n, length, n != 3);
        }
        data.Add(HalfFormat.Bf16, 3, 2 * RingAllReduce.PartValues * 3 + 5, true); // packed chunks travel in several parts
        return data;
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void A_16_bit_ring_sums_within_the_formats_rounding_and_every_rank_ends_with_the_same_bits(HalfFormat format, int n, int length, bool tcp)
    {
        var (ports, members) = Ring(n, tcp);
        var buffers = RandomBuffers(n, length, seed: n * 1000 + length);
        var exact = Enumerable.Range(0, length).Select(i => buffers.Sum(b => (double)b[i])).ToArray();
        var magnitude = Enumerable.Range(0, length).Select(i => buffers.Sum(b => Math.Abs((double)b[i]))).ToArray();
        var rings = ports.Select(p => new RingAllReduce(p, Timeout)).ToArray();

        OnEveryRank(n, p => rings[p].AllReduceSum16(buffers[p], format, new ExchangeGroup(1, 1, p, members), 0, CancellationToken.None));

        // Each of the n-1 partial sums and the final sum is rounded once: a relative error of half
        // the format's epsilon each, on at most the sum of the magnitudes.
        double epsilon = format == HalfFormat.Fp16 ? Math.Pow(2, -11) : Math.Pow(2, -8);
        for (int i = 0; i < length; i++)
            Assert.True(Math.Abs(buffers[0][i] - exact[i]) <= n * epsilon * magnitude[i] + 1e-7, $"value {i}: {buffers[0][i]} for {exact[i]}");
        for (int p = 1; p < n; p++) Assert.Equal(buffers[0], buffers[p]); // the same bits everywhere
        Assert.All(buffers[0], v => Assert.Equal(v, HalfCodec.Round(v, format))); // the sum as the format holds it
    }

    [Theory]
    [InlineData(HalfFormat.Fp16)]
    [InlineData(HalfFormat.Bf16)]
    public void A_16_bit_ring_sends_half_the_bytes_of_the_float32_ring(HalfFormat format)
    {
        const int n = 3, length = 100_000;
        var (ports, members) = Ring(n, tcp: false);
        var rings = ports.Select(p => new RingAllReduce(p, Timeout)).ToArray();
        var full = RandomBuffers(n, length, 1);
        var half = RandomBuffers(n, length, 1);
        OnEveryRank(n, p => rings[p].AllReduceSum(full[p], new ExchangeGroup(1, 1, p, members), 0, CancellationToken.None));
        var fullBytes = rings.Select(r => r.BytesSent).ToArray();
        OnEveryRank(n, p => rings[p].AllReduceSum16(half[p], format, new ExchangeGroup(1, 2, p, members), 0, CancellationToken.None));

        for (int p = 0; p < n; p++)
        {
            Assert.InRange(fullBytes[p], 2.0 * (n - 1) / n * length * sizeof(float), 2.0 * (n - 1) / n * length * sizeof(float) + 1000);
            Assert.Equal(fullBytes[p] / 2.0, rings[p].BytesSent - fullBytes[p], fullBytes[p] * 0.01);
        }
    }

    [Theory]
    [InlineData(2, 3, true)]
    [InlineData(4, 2 * RingAllReduce.PartValues + 1, false)]
    public void Blocks_gathered_around_the_ring_reach_every_rank_bit_for_bit(int n, int block, bool tcp)
    {
        var (ports, members) = Ring(n, tcp);
        var expected = new float[n * block];
        for (int i = 0; i < expected.Length; i++) expected[i] = BitConverter.Int32BitsToSingle(i * 7 + 1); // indices bit-cast: subnormal floats
        var buffers = Enumerable.Range(0, n).Select(p =>
        {
            var b = new float[n * block];
            expected.AsSpan(p * block, block).CopyTo(b.AsSpan(p * block));
            return b;
        }).ToArray();

        OnEveryRank(n, p => new RingAllReduce(ports[p], Timeout).GatherBlocks(buffers[p], new ExchangeGroup(1, 1, p, members), 0, CancellationToken.None));

        foreach (var b in buffers)
            Assert.Equal(expected.Select(BitConverter.SingleToInt32Bits), b.Select(BitConverter.SingleToInt32Bits));
    }

    public void Dispose()
    {
        foreach (var o in _owned) o.Dispose();
    }
}
