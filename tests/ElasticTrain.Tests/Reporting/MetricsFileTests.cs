using System.Text.Json;
using ElasticTrain.Cli.Reporting;
using ElasticTrain.Coordination;
using ElasticTrain.Tests.Data;

namespace ElasticTrain.Tests.Reporting;

/// <summary>
/// The metrics file keeps one step record per committed step even when a process died between a
/// commit and its line: the next generation fills the gap from the journal.
/// </summary>
public sealed class MetricsFileTests
{
    private static JournaledStep Step(long step) => new(new StepCommitted(step, 5.0 - step * 0.01, Generation: 1, World: 2), null);

    private static StepCommittedNotice Notice(long step) => new(step, 5.0 - step * 0.01, 2, 1, 0, 20, 8, 10, 5, 1, 2);

    private static List<JsonElement> Records(string path, string type) =>
        File.ReadLines(path).Select(l => JsonDocument.Parse(l).RootElement).Where(r => r.GetProperty("type").GetString() == type).ToList();

    [Fact]
    public void A_resume_fills_in_the_journaled_steps_the_killed_process_did_not_report()
    {
        using var folder = new TempFolder();
        var path = Path.Combine(folder.Path, "metrics.jsonl");
        using (var before = new MetricsFile(path))
            for (var step = 1; step <= 13; step++) before.Committed(Notice(step));

        using (var after = new MetricsFile(path))
        {
            // The journal holds steps 11..14 after the checkpoint at 10; the file stopped at 13.
            after.Running(new JobRunning("job", 11, 20, 2, 2, null, [Step(11), Step(12), Step(13), Step(14)]));
            for (var step = 15; step <= 16; step++) after.Committed(Notice(step));
        }

        var steps = Records(path, "step");
        Assert.Equal(Enumerable.Range(1, 16).Select(i => (long)i), steps.Select(r => r.GetProperty("step").GetInt64()));
        var recovered = Assert.Single(steps, r => r.TryGetProperty("recovered", out _));
        Assert.Equal(14, recovered.GetProperty("step").GetInt64());
        Assert.Equal(Step(14).Committed.Loss, recovered.GetProperty("loss").GetDouble());
    }

    [Fact]
    public void A_file_without_step_records_is_not_filled_in()
    {
        using var folder = new TempFolder();
        var path = Path.Combine(folder.Path, "metrics.jsonl");
        using (var file = new MetricsFile(path))
            file.Running(new JobRunning("job", 15, 20, 2, 2, null, [Step(13), Step(14)]));

        Assert.Empty(Records(path, "step"));
    }

    [Fact]
    public void A_line_cut_short_by_a_kill_is_ended_and_does_not_stop_the_fill_in()
    {
        using var folder = new TempFolder();
        var path = Path.Combine(folder.Path, "metrics.jsonl");
        using (var before = new MetricsFile(path))
            before.Committed(Notice(1));
        File.AppendAllText(path, "{\"type\":\"step\",\"step\":2,\"lo");

        using (var after = new MetricsFile(path))
            after.Running(new JobRunning("job", 3, 20, 2, 2, null, [Step(2)]));

        var lines = File.ReadAllLines(path);
        Assert.Equal("{\"type\":\"step\",\"step\":2,\"lo", lines[1]);
        var recovered = JsonDocument.Parse(lines[2]).RootElement;
        Assert.Equal(2, recovered.GetProperty("step").GetInt64());
        Assert.True(recovered.GetProperty("recovered").GetBoolean());
    }

    [Fact]
    public void A_frozen_coordinator_that_wakes_after_its_successor_wrote_on_cannot_report_a_step_twice()
    {
        using var folder = new TempFolder();
        var path = Path.Combine(folder.Path, "metrics.jsonl");
        using var frozen = new MetricsFile(path);
        for (var step = 1; step <= 13; step++) frozen.Committed(Notice(step));
        // Frozen after committing step 14 and before its line; its successor fills 14 in and goes on.
        using (var successor = new MetricsFile(path))
        {
            successor.Running(new JobRunning("job", 15, 20, 2, 2, null, [Step(14)]));
            successor.Committed(Notice(15));
        }
        frozen.Committed(Notice(14)); // it wakes up and reports late
        frozen.Committed(Notice(15));

        var steps = Records(path, "step").Select(r => r.GetProperty("step").GetInt64());
        Assert.Equal(Enumerable.Range(1, 15).Select(i => (long)i), steps);
    }

    [Fact]
    public void A_job_started_afresh_in_a_used_file_reports_its_steps_from_one()
    {
        using var folder = new TempFolder();
        var path = Path.Combine(folder.Path, "metrics.jsonl");
        using (var earlier = new MetricsFile(path))
            for (var step = 1; step <= 5; step++) earlier.Committed(Notice(step));
        using (var fresh = new MetricsFile(path))
        {
            fresh.Running(new JobRunning("other", 1, 20, 1, 2, null, []));
            fresh.Committed(Notice(1));
        }
        Assert.Equal([1L, 2, 3, 4, 5, 1], Records(path, "step").Select(r => r.GetProperty("step").GetInt64()));
    }
}
