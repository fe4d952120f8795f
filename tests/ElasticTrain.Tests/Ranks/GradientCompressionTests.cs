using ElasticTrain.Collectives;
using ElasticTrain.Collectives.Transport;
using ElasticTrain.Models;
using ElasticTrain.Ranks;
using ElasticTrain.Ranks.Compression;
using ElasticTrain.Training;
using Xunit.Abstractions;

namespace ElasticTrain.Tests.Ranks;

/// <summary>
/// The compressed gradient exchanges on rings of ranks linked in memory: top-k's and PowerSGD's
/// error-feedback accounting (nothing is lost, only delayed), that every mode gives every rank the
/// same bits and the same bits again when run again, and what each mode saves on the wire.
/// </summary>
public sealed class GradientCompressionTests(ITestOutputHelper output) : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    private readonly TensorTransport _transport = new("127.0.0.1", System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
    private int _rings;

    /// <summary>One rank of a test ring: its buffer and its exchange.</summary>
    private sealed record Member(RingAllReduce Ring, IGradientCompressor? Compressor, float[] Buffer);

    private (Member[] Members, ExchangeMember[] Group) NewRing(int n, CompressionSettings compression, int length)
    {
        int ring = _rings++;
        var ports = Enumerable.Range(0, n).Select(p => _transport.Open($"ring{ring}/r{p}")).ToArray();
        var members = ports.Select(p =>
        {
            var collective = new RingAllReduce(p, Timeout);
            return new Member(collective, GradientCompressor.Create(compression, collective), new float[length]);
        }).ToArray();
        return (members, ports.Select(p => new ExchangeMember(p.Rank, p.Address)).ToArray());
    }

    /// <summary>Every rank exchanges every bucket of its buffer for <paramref name="step"/>.</summary>
    private static void Exchange(Member[] members, ExchangeMember[] group, IReadOnlyList<GradientBucket> buckets, long step, bool commit = true) =>
        Task.WaitAll(members.Select((m, p) => Task.Factory.StartNew(() =>
        {
            foreach (var bucket in buckets)
            {
                var g = new ExchangeGroup(1, step, p, group);
                if (m.Compressor is { } c) c.Exchange(m.Buffer, bucket, g, CancellationToken.None);
                else m.Ring.AllReduceSum(m.Buffer.AsMemory(bucket.Offset, bucket.Count), g, bucket.Index, CancellationToken.None);
            }
            if (commit) m.Compressor?.Commit(); // as the rank does when the coordinator commits the step
        }, TaskCreationOptions.LongRunning)).ToArray());

    private static GradientBucket Bucket(params long[][] shapes)
    {
        int count = (int)shapes.Sum(s => s.Aggregate(1L, (a, b) => a * b));
        return new GradientBucket(0, 0, shapes.Length, 0, count, 0, shapes);
    }

    private static float[] Random(int length, Random random) => [.. Enumerable.Range(0, length).Select(_ => (float)(random.NextDouble() * 2 - 1))];

    [Fact]
    public void Top_k_picks_the_largest_magnitudes_and_breaks_ties_toward_the_lower_index()
    {
        float[] values = [0.5f, -3, 2, -2, 1, 3, 0, 2];
        Assert.Equal([1, 5], TopKSelection.Select(values, 2));
        Assert.Equal([1, 2, 3, 5], TopKSelection.Select(values, 4));       // |2| three times: the first two
        Assert.Equal([1, 2, 3, 5, 7], TopKSelection.Select(values, 5));
        Assert.Equal([.. Enumerable.Range(0, 8)], TopKSelection.Select(values, 8));
        Assert.Equal(1, TopKSelection.K(1000, 0.0001));
        Assert.Equal(11, TopKSelection.K(1001, 0.01)); // ceil
        var random = new Random(3);
        var many = Random(10_000, random);
        var expected = many.Select((v, i) => (Abs: MathF.Abs(v), i)).OrderByDescending(e => e.Abs).ThenBy(e => e.i).Take(137).Select(e => e.i).Order();
        Assert.Equal(expected, TopKSelection.Select(many, 137));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(50)]
    [InlineData(2_500)]
    [InlineData(9_999)]
    public void Top_k_agrees_with_a_sort_on_ties_zeros_signs_and_extremes(int k)
    {
        // Few distinct magnitudes (many ties, within one radix bucket and across), both zeros, infinities, subnormals.
        var random = new Random(k);
        float[] kinds = [0f, -0f, 1e-40f, -1e-40f, 0.25f, -0.25f, 0.2500001f, 3f, -3f, float.MaxValue, float.NegativeInfinity];
        var values = Enumerable.Range(0, 10_000).Select(_ => kinds[random.Next(kinds.Length)]).ToArray();
        var expected = values.Select((v, i) => (Abs: MathF.Abs(v), i)).OrderByDescending(e => e.Abs).ThenBy(e => e.i).Take(k).Select(e => e.i).Order();
        Assert.Equal(expected, TopKSelection.Select(values, k));
    }

    [Fact]
    public void Top_k_sends_exactly_k_pairs_per_rank_sums_what_was_sent_and_keeps_the_rest_as_residual()
    {
        const int n = 3, length = 5000;
        const double ratio = 0.01;
        int k = TopKSelection.K(length, ratio);
        var (members, group) = NewRing(n, new CompressionSettings(CompressionKind.TopK, Ratio: ratio), length);
        var bucket = Bucket([length]);
        var random = new Random(11);
        var residuals = Enumerable.Range(0, n).Select(_ => new float[length]).ToArray();
        for (long step = 1; step <= 3; step++)
        {
            var expected = new double[length];
            var accumulated = new float[n][];
            for (int p = 0; p < n; p++)
            {
                var gradient = Random(length, random);
                gradient.CopyTo(members[p].Buffer, 0);
                accumulated[p] = [.. gradient.Zip(residuals[p], (g, r) => g + r)];
                foreach (var i in TopKSelection.Select(accumulated[p], k)) expected[i] += accumulated[p][i];
            }
            var before = members.Select(m => m.Ring.BytesSent).ToArray();
            Exchange(members, group, [bucket], step);

            for (int p = 0; p < n; p++)
            {
                // k (index, value) pairs, forwarded n-1 times: one frame each.
                Assert.Equal((n - 1) * (FrameHeader.Size + 2L * k * sizeof(float)), members[p].Ring.BytesSent - before[p]);
                Assert.Equal(members[0].Buffer, members[p].Buffer);
                var residual = ((TopKCompressor)members[p].Compressor!).Residual(0)!;
                Assert.Equal(length - k, residual.Count(v => v != 0));
                // Nothing lost: what stays plus what went is the accumulated gradient, exactly.
                var sent = new float[length];
                foreach (var i in TopKSelection.Select(accumulated[p], k)) sent[i] = accumulated[p][i];
                for (int i = 0; i < length; i++) Assert.Equal(accumulated[p][i], residual[i] + sent[i]);
                residual.CopyTo(residuals[p], 0);
            }
            for (int i = 0; i < length; i++) Assert.Equal(expected[i], members[0].Buffer[i], 1e-5);
            Assert.Equal(length - expected.Count(v => v != 0), members[0].Buffer.Count(v => v == 0));
        }
    }

    [Fact]
    public void PowerSGD_of_a_sum_of_rank_r_matrices_is_exact_and_the_residuals_add_up_to_what_the_sum_missed()
    {
        const int n = 3, rank = 2, rows = 40, columns = 24;
        var (members, group) = NewRing(n, new CompressionSettings(CompressionKind.PowerSgd, Rank: rank), rows * columns + columns);
        var bucket = Bucket([rows, columns], [columns]); // a weight matrix and its bias, which travels whole
        var random = new Random(5);
        var v = Random(columns * rank, random); // every rank's matrix is U_p Vᵀ: the sum has rank 2
        var residuals = Enumerable.Range(0, n).Select(_ => new float[rows * columns + columns]).ToArray();
        for (long step = 1; step <= 4; step++)
        {
            bool lowRank = step <= 2; // then full-rank gradients: approximate, but accounted for
            var accumulated = new float[n][];
            for (int p = 0; p < n; p++)
            {
                var gradient = new float[rows * columns + columns];
                var u = Random(rows * rank, random);
                for (int r = 0; r < rows; r++)
                    for (int c = 0; c < columns; c++)
                        gradient[r * columns + c] = lowRank ? u[r * rank] * v[c * rank] + u[r * rank + 1] * v[c * rank + 1] : (float)(random.NextDouble() - 0.5);
                Random(columns, random).CopyTo(gradient, rows * columns);
                gradient.CopyTo(members[p].Buffer, 0);
                accumulated[p] = [.. gradient.Zip(residuals[p], (g, r) => g + r)];
            }
            Exchange(members, group, [bucket], step);

            var sum = Enumerable.Range(0, rows * columns + columns).Select(i => accumulated.Sum(a => (double)a[i])).ToArray();
            for (int p = 1; p < n; p++) Assert.Equal(members[0].Buffer, members[p].Buffer);
            for (int i = rows * columns; i < sum.Length; i++) Assert.Equal(sum[i], members[0].Buffer[i], 1e-5); // the bias, summed whole
            for (int p = 0; p < n; p++) ((PowerSgdCompressor)members[p].Compressor!).Residual(0)!.CopyTo(residuals[p], 0);
            double scale = sum.Take(rows * columns).Max(Math.Abs);
            for (int i = 0; i < rows * columns; i++)
            {
                // The estimate plus every rank's residual is the sum of what the ranks had: nothing lost.
                Assert.Equal(sum[i], members[0].Buffer[i] + residuals.Sum(r => (double)r[i]), 1e-4 * scale);
                if (lowRank) Assert.Equal(sum[i], members[0].Buffer[i], 1e-4 * scale); // exact for a rank-2 sum
            }
            if (!lowRank) Assert.True(Enumerable.Range(0, rows * columns).Max(i => Math.Abs(sum[i] - members[0].Buffer[i])) > 1e-2 * scale, "a full-rank sum came through exactly");
        }
    }

    [Theory]
    [InlineData("topk:0.05")]
    [InlineData("powersgd:2")]
    public void A_step_exchanged_but_never_committed_leaves_the_residuals_as_they_were(string mode)
    {
        float[][] Run(bool abortOnce)
        {
            var (members, group) = NewRing(2, CompressionSettings.Parse(mode), 32 * 16 + 16);
            var buckets = new[] { Bucket([32, 16], [16]) };
            var random = new Random(4);
            var gradients = Enumerable.Range(0, 4).Select(_ => Random(members[0].Buffer.Length, random)).ToArray();
            void Step(long step, int first, bool commit)
            {
                for (int p = 0; p < 2; p++) gradients[first + p].CopyTo(members[p].Buffer, 0);
                Exchange(members, group, buckets, step, commit);
            }
            Step(1, 0, commit: true);
            if (abortOnce) Step(2, 1, commit: false); // other gradients, then the generation ends: replayed below
            Step(2, 2, commit: true);
            return [members[0].Buffer, .. members.Select(m => m.Compressor switch
            {
                TopKCompressor t => t.Residual(0)!,
                PowerSgdCompressor s => s.Residual(0)!,
                _ => throw new InvalidOperationException(),
            })];
        }
        var plain = Run(abortOnce: false);
        var replayed = Run(abortOnce: true);
        for (int i = 0; i < plain.Length; i++)
            Assert.Equal(plain[i].Select(BitConverter.SingleToInt32Bits), replayed[i].Select(BitConverter.SingleToInt32Bits));
    }

    public static TheoryData<string> Modes() => ["fp16", "bf16", "topk:0.05", "powersgd:2"];

    [Theory]
    [MemberData(nameof(Modes))]
    public void Every_mode_gives_every_rank_the_same_bits_and_the_same_bits_again_when_run_again(string mode)
    {
        float[][] Run()
        {
            var (members, group) = NewRing(3, CompressionSettings.Parse(mode), 64 * 48 + 48 + 100);
            var buckets = new[] { Bucket([64, 48], [48]) with { Index = 0 }, new GradientBucket(1, 2, 3, 64 * 48 + 48, 100, 0, [[100]]) };
            var random = new Random(9);
            var results = new List<float[]>();
            for (long step = 1; step <= 3; step++)
            {
                foreach (var m in members) Random(m.Buffer.Length, random).CopyTo(m.Buffer, 0);
                Exchange(members, group, buckets, step);
                foreach (var m in members) Assert.Equal(members[0].Buffer, m.Buffer);
                results.Add((float[])members[0].Buffer.Clone());
            }
            return [.. results];
        }
        var first = Run();
        var second = Run();
        for (int s = 0; s < first.Length; s++)
            Assert.Equal(first[s].Select(BitConverter.SingleToInt32Bits), second[s].Select(BitConverter.SingleToInt32Bits));
    }

    /// <summary>
    /// The default GPT (4 blocks of width 256) in 1 MiB buckets as a rank lays them out, on 2 ranks:
    /// bytes per rank and step for each mode against float32.
    /// </summary>
    [Fact]
    public void Top_k_at_one_percent_and_PowerSGD_rank_4_send_at_least_4x_fewer_bytes_than_float32_on_the_default_GPT()
    {
        using var model = ModelFactory.Create(new ModelSpec("gpt", 4, 4, 256, 128), 1);
        var stages = ((IReportsBackwardProgress)model).BackwardStages();
        var buffer = new GradientBuffer(stages, (1 << 20) / sizeof(float));
        var bytes = new Dictionary<string, long>();
        foreach (var mode in new[] { "none", "fp16", "bf16", "topk:0.01", "powersgd:4" })
        {
            var (members, group) = NewRing(2, CompressionSettings.Parse(mode), buffer.Values.Length);
            var random = new Random(2);
            foreach (var m in members) Random(m.Buffer.Length, random).CopyTo(m.Buffer, 0);
            Exchange(members, group, buffer.Buckets, 1);
            bytes[mode] = members[0].Ring.BytesSent;
            output.WriteLine($"{mode}: {bytes[mode]:N0} bytes per rank and step ({(double)bytes["none"] / bytes[mode]:0.0}x fewer than none)");
        }
        Assert.InRange((double)bytes["none"] / bytes["fp16"], 1.95, 2.05);
        Assert.InRange((double)bytes["none"] / bytes["bf16"], 1.95, 2.05);
        Assert.True(bytes["none"] >= 4 * bytes["topk:0.01"], $"topk:0.01 sent {bytes["topk:0.01"]} of {bytes["none"]}");
        Assert.True(bytes["none"] >= 4 * bytes["powersgd:4"], $"powersgd:4 sent {bytes["powersgd:4"]} of {bytes["none"]}");
    }

    public void Dispose() => _transport.Dispose();
}
