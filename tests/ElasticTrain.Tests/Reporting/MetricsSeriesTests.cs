using ElasticTrain.Cli.Reporting;
using ElasticTrain.Coordination;
using ElasticTrain.Tests.Data;

namespace ElasticTrain.Tests.Reporting;

/// <summary>The plot's reader: a metrics file's last run as series, and the steps/s (samples/s where recorded) between its step records.</summary>
public sealed class MetricsSeriesTests
{
    /// <summary>
    /// Two ranks for steps 1..3, then a third joins: a generation record from step 4. Step 4 was
    /// filled in from the journal after a kill, and the last line was cut short by one.
    /// </summary>
    internal const string TwoGenerations = """
        {"type":"start","job":"j","from_step":1,"steps":6,"world":2,"generation":1,"checkpoint":null,"time_ms":1000}
        {"type":"step","step":1,"loss":5.0,"world":2,"generation":1,"time_ms":1500,"step_ms":400}
        {"type":"step","step":2,"loss":4.5,"world":2,"generation":1,"time_ms":2000,"step_ms":400}
        {"type":"checkpoint","step":2,"path":"c2","generation":1,"time_ms":2010}
        {"type":"step","step":3,"loss":4.25,"world":2,"generation":1,"time_ms":2500,"step_ms":400}
        {"type":"generation","job":"j","from_step":4,"steps":6,"world":3,"generation":2,"checkpoint":null,"time_ms":4000}
        {"type":"step","step":4,"loss":4.0,"world":3,"generation":2,"time_ms":9000,"recovered":true}
        {"type":"step","step":5,"loss":3.5,"world":3,"generation":2,"time_ms":4500,"step_ms":250}
        {"type":"step","step":6,"loss":3.0,"world":3,"generation":2,"time_ms":4750,"step_ms":250}
        {"type":"finish","job":"j","st
        """;

    [Fact]
    public void Reads_the_steps_and_each_generation_change_with_its_world()
    {
        using var folder = new TempFolder();
        var series = MetricsSeries.Read(folder.Write("metrics.jsonl", TwoGenerations));

        Assert.Equal([1L, 2, 3, 4, 5, 6], series.Steps.Select(s => s.Step));
        Assert.Equal([5.0, 4.5, 4.25, 4.0, 3.5, 3.0], series.Steps.Select(s => s.Loss));
        Assert.Equal([2, 2, 2, 3, 3, 3], series.Steps.Select(s => s.World));
        Assert.Equal([4L], series.Steps.Where(s => s.Recovered).Select(s => s.Step));
        Assert.Equal(
            [new GenerationMark("start", 1, 2, 1, 1000), new GenerationMark("generation", 4, 3, 2, 4000)],
            series.Generations);
        Assert.Equal(1000, series.StartMs);
    }

    [Fact]
    public void Throughput_is_steps_per_second_between_commits_and_leaves_out_recovered_steps()
    {
        using var folder = new TempFolder();
        var series = MetricsSeries.Read(folder.Write("metrics.jsonl", TwoGenerations));

        // 1→2 and 2→3: 0.5 s per step. 3→5 spans the change: 2 steps in 2 s. 5→6: 0.25 s.
        Assert.Equal(
            [new RatePoint(1.0, 2.0), new RatePoint(1.5, 2.0), new RatePoint(3.5, 1.0), new RatePoint(3.75, 4.0)],
            series.Throughput());
    }

    [Fact]
    public void Reads_what_the_metrics_file_writes()
    {
        using var folder = new TempFolder();
        var path = Path.Combine(folder.Path, "metrics.jsonl");
        using (var file = new MetricsFile(path))
        {
            file.Running(new JobRunning("job", 1, 4, 1, 2, null, []));
            file.Committed(new StepCommittedNotice(1, 5.0, 2, 1, 1000, 20, 8, 10, 5, 1, 2));
            file.Running(new JobRunning("job", 2, 4, 2, 3, null, []));
            file.Committed(new StepCommittedNotice(2, 4.0, 3, 2, 1500, 20, 8, 10, 5, 1, 2));
        }

        var series = MetricsSeries.Read(path);

        Assert.Equal([(1L, 5.0, 2, 1000L), (2L, 4.0, 3, 1500L)], series.Steps.Select(s => (s.Step, s.Loss, s.World, s.TimeMs)));
        Assert.Equal([("start", 1L, 2), ("generation", 2L, 3)], series.Generations.Select(g => (g.Kind, g.FromStep, g.World)));
        Assert.Equal([2.0], series.Throughput().Select(r => r.StepsPerSecond));
        // Step records carry the step's samples (the global batch, 8 here): 2 steps/s are 16 samples/s.
        Assert.Equal([8, 8], series.Steps.Select(s => s.Samples));
        Assert.Equal([16.0], series.Throughput().Select(r => r.SamplesPerSecond));
    }

    [Fact]
    public void A_start_record_begins_the_series_again()
    {
        using var folder = new TempFolder();
        var path = folder.Write("metrics.jsonl", TwoGenerations.Replace("{\"type\":\"finish\",\"job\":\"j\",\"st", """
            {"type":"start","job":"k","from_step":1,"steps":9,"world":1,"generation":1,"checkpoint":null,"time_ms":20000}
            {"type":"step","step":1,"loss":6.0,"world":1,"generation":1,"time_ms":20400,"step_ms":300}
            """));

        var series = MetricsSeries.Read(path);

        Assert.Equal([(1L, 6.0)], series.Steps.Select(s => (s.Step, s.Loss)));
        Assert.Equal([new GenerationMark("start", 1, 1, 1, 20000)], series.Generations);
    }
}
