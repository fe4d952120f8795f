using System.CommandLine;
using ElasticTrain.Cli.Reporting;
using ElasticTrain.Configuration;

namespace ElasticTrain.Cli.Commands;

/// <summary>
/// <c>elastictrain plot --metrics FILE</c>: a PNG of the job's loss curve and throughput, with its
/// generation changes marked (<see cref="LossPlot"/>).
/// </summary>
public static class PlotCommand
{
    private const int MinPixels = 100;
    private const int MaxPixels = 10_000;

    public static Command Create(TextWriter output, TextWriter error)
    {
        var metrics = new Option<string>("--metrics") { Description = "The job's metrics file (train --metrics)", Required = true };
        var png = new Option<string>("--output", "-o") { Description = "PNG file to write", DefaultValueFactory = _ => "loss.png" };
        var width = new Option<int>("--width") { Description = "Image width in pixels", DefaultValueFactory = _ => 1200 };
        var height = new Option<int>("--height") { Description = "Image height in pixels", DefaultValueFactory = _ => 900 };
        var command = new Command("plot", "Draw a job's loss over steps and steps/s over time, generation changes marked, as a PNG")
        {
            metrics, png, width, height,
        };
        command.SetAction(parse =>
        {
            var (w, h) = (Pixels(parse.GetValue(width), "--width"), Pixels(parse.GetValue(height), "--height"));
            var series = MetricsSeries.Read(parse.GetValue(metrics)!);
            var path = parse.GetValue(png)!;
            try
            {
                LossPlot.Save(series, path, w, h);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                error.WriteLine($"error: cannot write '{path}': {e.Message}");
                return 2;
            }
            output.WriteLine($"wrote {path}: {series.Steps.Count} steps, {series.Generations.Count} generations");
            return 0;
        });
        return command;
    }

    private static int Pixels(int value, string flag) =>
        value is >= MinPixels and <= MaxPixels ? value : throw new SettingsException($"{flag} must be {MinPixels} to {MaxPixels} pixels, not {value}");
}
