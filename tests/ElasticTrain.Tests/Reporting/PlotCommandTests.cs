using System.Buffers.Binary;
using ElasticTrain.Cli;
using ElasticTrain.Tests.Data;
using SkiaSharp;

namespace ElasticTrain.Tests.Reporting;

public sealed class PlotCommandTests
{
    [Fact]
    public async Task Plot_writes_a_png_of_the_requested_size_with_something_drawn()
    {
        using var folder = new TempFolder();
        var metrics = folder.Write("metrics.jsonl", MetricsSeriesTests.TwoGenerations);
        var png = Path.Combine(folder.Path, "out", "loss.png");

        var error = new StringWriter();
        Assert.Equal(0, await CliApp.RunAsync(["plot", "--metrics", metrics, "-o", png, "--width", "640", "--height", "480"], error));

        Assert.Equal("", error.ToString());
        // PNG: an 8-byte signature, then the IHDR chunk's length and type, then width and height.
        var bytes = File.ReadAllBytes(png);
        Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], bytes[..4]);
        Assert.Equal(640, BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(16)));
        Assert.Equal(480, BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(20)));
        using var image = SKBitmap.Decode(bytes);
        // Background, grid, axes, the curves and the generation lines: far more than one colour.
        Assert.True(image.Pixels.Distinct().Count() > 3, "the image is blank");
    }

    public static TheoryData<string, string[], string> BadInput => new()
    {
        { "", ["--width", "99"], "error: --width must be 100 to 10000 pixels, not 99" },
        { "", ["--height", "10001"], "error: --height must be 100 to 10000 pixels, not 10001" },
        { "", ["--width", "x"], "error: Cannot parse argument 'x' for option '--width' as expected type 'System.Int32'." },
        { "{\"type\":\"start\",\"from_step\":1,\"world\":2,\"generation\":1,\"time_ms\":1}\n", [], "error: metrics file 'METRICS' has no step records" },
        { "{\"type\":\"step\",\"step\":1,\"loss\":5.0}\n", [], "error: line 1 of 'METRICS' has no valid \"world\"" },
        { "{\"type\":\"step\",\"step\":1,\"loss\":\"high\",\"world\":1,\"generation\":1,\"time_ms\":1}\n", [], "error: line 1 of 'METRICS' has no valid \"loss\"" },
        { "{\"step\":1}\n", [], "error: line 1 of 'METRICS' has no valid \"type\"" },
        { "[1, 2]\n", [], "error: line 1 of 'METRICS' is not a JSON object" },
    };

    /// <summary>Bad input: one error line and exit code 2, and no image.</summary>
    [Theory]
    [MemberData(nameof(BadInput))]
    public async Task Bad_input_is_one_error_line_and_exit_code_2(string content, string[] args, string expected)
    {
        using var folder = new TempFolder();
        var metrics = folder.Write("metrics.jsonl", content);
        var png = Path.Combine(folder.Path, "loss.png");

        var error = new StringWriter();
        Assert.Equal(2, await CliApp.RunAsync(["plot", "--metrics", metrics, "-o", png, .. args], error));

        Assert.Equal(expected.Replace("METRICS", metrics), error.ToString().Trim());
        Assert.False(File.Exists(png));
    }

    [Fact]
    public async Task A_line_that_is_not_json_is_named_in_the_error()
    {
        using var folder = new TempFolder();
        var metrics = folder.Write("metrics.jsonl", "{\"type\":\"finish\",\"step\":1,\"time_ms\":1}\nnot json\n");

        var error = new StringWriter();
        Assert.Equal(2, await CliApp.RunAsync(["plot", "--metrics", metrics, "-o", Path.Combine(folder.Path, "loss.png")], error));

        var line = Assert.Single(error.ToString().Trim().Split('\n'));
        Assert.StartsWith($"error: line 2 of '{metrics}' is not a JSON record (", line);
    }

    [Theory]
    [InlineData(new[] { "--metrics", "/nonexistent/metrics.jsonl" }, "error: metrics file '/nonexistent/metrics.jsonl' does not exist")]
    [InlineData(new string[0], "error: Option '--metrics' is required.")]
    public async Task A_missing_metrics_file_is_one_error_line_and_exit_code_2(string[] args, string expected)
    {
        var error = new StringWriter();
        Assert.Equal(2, await CliApp.RunAsync(["plot", .. args], error));
        Assert.Equal(expected, error.ToString().Trim());
    }

    [Fact]
    public async Task An_output_path_that_cannot_be_written_is_one_error_line_and_exit_code_2()
    {
        using var folder = new TempFolder();
        var metrics = folder.Write("metrics.jsonl", MetricsSeriesTests.TwoGenerations);
        // A file where the output's folder should be.
        var blocker = folder.Write("blocker", "x");

        var error = new StringWriter();
        var png = Path.Combine(blocker, "loss.png");
        Assert.Equal(2, await CliApp.RunAsync(["plot", "--metrics", metrics, "-o", png], error));

        Assert.StartsWith($"error: cannot write '{png}': ", Assert.Single(error.ToString().Trim().Split('\n')));
    }
}
