using ElasticTrain.Cli;

namespace ElasticTrain.Tests.Benchmarks;

/// <summary>Bad input of <c>bench train</c>: one error line and exit code 2, before any process or folder is made.</summary>
public class BenchTrainCommandTests
{
    [Theory]
    [InlineData(new[] { "--nodes", "0" }, "error: --nodes must be at least 1, not 0")]
    [InlineData(new[] { "--nodes", "x" }, "error: Cannot parse argument 'x' for option '--nodes' as expected type 'System.Int32'.")]
    [InlineData(new[] { "--plain", "--nodes", "2" }, "error: --plain trains in this one process: --nodes must be 1, not 2")]
    [InlineData(new[] { "--warmup", "-1" }, "error: --warmup must be 0 or more, not -1")]
    [InlineData(new[] { "--steps", "5" }, "error: --steps must be at least --warmup + 2 (7) to measure a rate, not 5")]
    [InlineData(new[] { "--steps", "3", "--warmup", "2" }, "error: --steps must be at least --warmup + 2 (4) to measure a rate, not 3")]
    [InlineData(new[] { "--nodes", "4", "--global-batch", "3" }, "error: --global-batch 3 is smaller than the 4 nodes: every rank needs at least one sample per step")]
    [InlineData(new[] { "--global-batch", "0" }, "error: --global-batch must be at least 1, not 0")]
    [InlineData(new[] { "--bogus" }, "error: Unrecognized command or argument '--bogus'.")]
    public async Task Bad_input_is_one_error_line_and_exit_code_2(string[] args, string expected)
    {
        var error = new StringWriter();
        var code = await CliApp.RunAsync(["bench", "train", .. args], error);
        Assert.Equal(2, code);
        Assert.Equal(expected, error.ToString().Trim());
    }

    [Fact]
    public async Task A_settings_file_that_does_not_parse_is_refused_before_any_process_starts()
    {
        var file = Path.GetTempFileName();
        try
        {
            File.WriteAllText(file, "elastictrain { bucket-size = ");
            var error = new StringWriter();
            Assert.Equal(2, await CliApp.RunAsync(["bench", "train", "--nodes", "2", "--config", file], error));
            var line = Assert.Single(error.ToString().Trim().Split('\n'));
            Assert.StartsWith("error: ", line);
        }
        finally
        {
            File.Delete(file);
        }
    }
}
