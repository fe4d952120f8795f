using Xunit.Abstractions;

namespace ElasticTrain.Tests.Training;

/// <summary>
/// Whole jobs through the CLI with each compressed gradient exchange on 2 ranks: each learns, ends
/// within a stated tolerance of the exact float32 exchange, gives the same curve when run again on
/// the same mesh, and its metrics count fewer bytes sent.
/// </summary>
/// <remarks>
/// The tolerance is on the mean loss of the last 10 of 60 steps (tiny GPT, AdamW, batch 8),
/// relative to the float32 run's. Measured: fp16 and bf16 0.00%; powersgd:4 +3.3% (powersgd:2
/// +5.4%, powersgd:1 +9.8%); topk:0.2 -2.0%, its first 30 steps dense and Adam's second moment
/// from the ranks' own after them (before that scheme: +3.6%, and topk:0.01 +43%). Hence 1% for
/// the 16-bit formats and 5% for powersgd:4 and topk:0.2.
/// Run to run, float32 jobs in one process already differ by about 1e-7 per step (in the compute,
/// not the exchange: every exchange gives the same bits for the same input, see
/// GradientCompressionTests). The 16-bit formats and PowerSGD keep that within 1e-4 per step, as
/// meshes are held to; top-k's selection turns it into different picks (measured up to 2e-2 per
/// step at topk:0.01, 1.4e-3 at topk:0.2), so for top-k only the tail is held to 1%.
/// </remarks>
public sealed class CompressionTrainingTests(ITestOutputHelper output)
{
    private const int Steps = 60;

    private static double Tolerance(string mode) => mode is "fp16" or "bf16" ? 0.01 : 0.05;

    private static async Task<TrainRun> Run(string compression)
    {
        var run = new TrainRun();
        var (code, error) = await run.RunAsync(
        [
            .. TrainRun.TinyGpt, "--global-batch", "8", "--steps", Steps.ToString(), "--checkpoint-every", "60",
            "--ranks", "2", "--compression", compression,
        ]);
        Assert.True(code == 0, $"{compression}: {error}");
        return run;
    }

    private static double Tail(SortedDictionary<long, double> losses) => losses.Values.Skip(Steps - 10).Average();

    private static List<long> BytesSent(TrainRun run) => [.. run.Records("step").Select(r => r.GetProperty("bytes_sent").GetInt64())];

    [Fact]
    public async Task Every_compressed_exchange_learns_within_its_tolerance_of_float32_repeats_its_curve_and_sends_fewer_bytes()
    {
        using var exact = await Run("none");
        var reference = Tail(exact.Losses());
        var full = BytesSent(exact);
        Assert.All(full, b => Assert.Equal(full[0], b));
        Assert.True(full[0] > 0);
        output.WriteLine($"none: final loss {reference:0.0000}, {full[0]:N0} bytes per step");

        foreach (var mode in new[] { "fp16", "bf16", "powersgd:4", "topk:0.2" })
        {
            using var first = await Run(mode);
            using var second = await Run(mode);
            var losses = first.Losses();
            var tail = Tail(losses);
            // Top-k with Adam exchanges whole gradients for its first 30 steps and refreshes Adam's
            // second moment with a dense all-reduce at step 31 (elastictrain.job.topk): the steps after.
            var sent = mode.StartsWith("topk", StringComparison.Ordinal) ? BytesSent(first)[31..] : BytesSent(first);
            output.WriteLine($"{mode}: final loss {tail:0.0000} ({100 * (tail - reference) / reference:+0.00;-0.00}%), {sent.Max():N0} bytes per step ({(double)full[0] / sent.Max():0.0}x fewer)");
            Assert.Contains(mode, Assert.Single(first.Records("start")).GetProperty("recipe").GetString());
            Assert.True(tail < losses.Values.Take(10).Average(), $"{mode} did not learn");
            Assert.True(Math.Abs(tail - reference) <= Tolerance(mode) * reference, $"{mode}: {tail} against {reference}");
            if (mode.StartsWith("topk", StringComparison.Ordinal))
                Assert.Equal(tail, Tail(second.Losses()), tolerance: 0.01 * tail);
            else
                LossCurves.AssertEquivalent(losses, second.Losses(), relative: 1e-4);
            Assert.True(sent.Max() < full[0], $"{mode} sent {sent.Max()} bytes against {full[0]}");
        }
    }
}
