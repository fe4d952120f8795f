using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using ElasticTrain.Cli;
using ElasticTrain.Cli.Benchmarks;
using ElasticTrain.Cli.Hosting;
using ElasticTrain.Configuration;

namespace ElasticTrain.Tests.Benchmarks;

public class BenchRanksCommandTests
{
    /// <summary>Bad input: one error line and exit code 2, before any job starts.</summary>
    [Theory]
    [InlineData(new[] { "--ranks", "x" }, "error: --ranks must be rank counts of 1 or more separated by commas (e.g. 1,2), not 'x'")]
    [InlineData(new[] { "--ranks", "1,0" }, "error: --ranks must be rank counts of 1 or more separated by commas (e.g. 1,2), not '1,0'")]
    [InlineData(new[] { "--ranks", "2,1,2" }, "error: --ranks names 2 twice")]
    [InlineData(new[] { "--rounds", "0" }, "error: --rounds must be at least 1, not 0")]
    [InlineData(new[] { "--warmup", "0" }, "error: --warmup must be at least 1, not 0")]
    [InlineData(new[] { "--steps", "6" }, "error: --steps must be at least --warmup + 2 (7) to measure a rate, not 6")]
    [InlineData(new[] { "--global-batch", "1" }, "error: global batch 1 is smaller than the 2 ranks: every rank needs at least one sample per step")]
    [InlineData(new[] { "--steps", "x" }, "error: Cannot parse argument 'x' for option '--steps' as expected type 'System.Int32'.")]
    [InlineData(new[] { "--bogus" }, "error: Unrecognized command or argument '--bogus'.")]
    public async Task Bad_input_is_one_error_line_and_exit_code_2(string[] args, string expected)
    {
        var error = new StringWriter();
        Assert.Equal(2, await CliApp.RunAsync(["bench", "ranks", .. args], error));
        Assert.Equal(expected, error.ToString().Trim());
    }

    [Fact]
    public async Task Each_rank_count_gets_a_line_per_round_and_a_median_line()
    {
        var job = HoconFiles.Parse($$"""
            elastictrain.job { model = mlp, width = 16, block = 16, global-batch = 4, data = {{JsonSerializer.Serialize(TinyCorpus.Path_)}} }
            """, "test");
        var output = new StringWriter();
        await RankCountBenchmark.RunAsync(NodeConfig.Merge(job, null), new RankCountBenchmark.Options([1, 2], Rounds: 1, Steps: 6, Warmup: 2),
            output, CancellationToken.None).WaitAsync(TimeSpan.FromMinutes(1));

        var lines = output.ToString().Trim().Split('\n').Select(l => l.TrimEnd('\r')).ToArray();
        Assert.Equal(4, lines.Length);
        Assert.Matches(@"^round 1 ranks=1 steps_per_s=[0-9]+\.[0-9]{3}$", lines[0]);
        Assert.Matches(@"^round 1 ranks=2 steps_per_s=[0-9]+\.[0-9]{3}$", lines[1]);
        foreach (var (line, ranks) in new[] { (lines[2], 1), (lines[3], 2) })
        {
            var median = Regex.Match(line, $@"^median ranks={ranks} steps_per_s=([0-9.]+) samples_per_s=([0-9.]+) \(min \1, max \1, 1 runs\)$");
            Assert.True(median.Success, line);
            // Samples per second: steps per second times the configured global batch of 4.
            var steps = double.Parse(median.Groups[1].Value, CultureInfo.InvariantCulture);
            Assert.Equal(4 * steps, double.Parse(median.Groups[2].Value, CultureInfo.InvariantCulture), 0.1);
        }
    }
}
