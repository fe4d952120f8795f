using ScottPlot;

namespace ElasticTrain.Cli.Reporting;

/// <summary>
/// A PNG of a job's <see cref="MetricsSeries"/>: the loss over steps above, steps per second over
/// time below, each generation change a dashed vertical line labelled with the new world size.
/// ScottPlot draws with SkiaSharp's bundled native library, which needs no system package; text
/// uses whatever fonts the machine has, and without any the labels are blank, not an error.
/// </summary>
public static class LossPlot
{
    public static void Save(MetricsSeries series, string path, int width, int height)
    {
        var multiplot = new Multiplot();
        multiplot.AddPlots(2);
        DrawLoss(multiplot.GetPlot(0), series);
        DrawThroughput(multiplot.GetPlot(1), series);
        // Room above the data for the lines' labels, which would otherwise be cut at the panel's top.
        foreach (var plot in multiplot.GetPlots()) plot.Axes.Top.MinimumSize = 30;
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        multiplot.SavePng(path, width, height);
    }

    private static void DrawLoss(Plot plot, MetricsSeries series)
    {
        plot.XLabel("step");
        plot.YLabel("loss");
        var loss = plot.Add.ScatterLine(series.Steps.Select(s => (double)s.Step).ToArray(), series.Steps.Select(s => s.Loss).ToArray());
        loss.LineWidth = 2;
        foreach (var mark in series.Generations) Mark(plot, mark.FromStep, mark);
    }

    private static void DrawThroughput(Plot plot, MetricsSeries series)
    {
        plot.XLabel("seconds since the first record");
        var rates = series.Throughput();
        // Samples where every record says how many a step had (files of today's build), else steps.
        var samples = rates.Count > 0 && rates.All(r => r.SamplesPerSecond is not null);
        plot.YLabel(samples ? "samples/s" : "steps/s");
        if (rates.Count > 0)
        {
            var rate = plot.Add.ScatterLine(rates.Select(r => r.Seconds).ToArray(),
                rates.Select(r => samples ? r.SamplesPerSecond!.Value : r.StepsPerSecond).ToArray());
            rate.LineWidth = 2;
            // Each rate holds over the interval that ends at its point: a step, not a slope.
            rate.ConnectStyle = ConnectStyle.StepVertical;
        }
        foreach (var mark in series.Generations) Mark(plot, (mark.TimeMs - series.StartMs) / 1000.0, mark);
    }

    private static void Mark(Plot plot, double x, GenerationMark mark)
    {
        var line = plot.Add.VerticalLine(x, 1.5f, Colors.Gray, LinePattern.Dashed);
        line.Text = mark.Kind == "resume" ? $"world {mark.World} (resumed)" : $"world {mark.World}";
        line.LabelOppositeAxis = true;
    }
}
