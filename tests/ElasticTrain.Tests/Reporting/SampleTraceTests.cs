using System.Text.Json;
using ElasticTrain.Cli.Reporting;
using ElasticTrain.Coordination;
using ElasticTrain.Jobs;
using ElasticTrain.Tests.Data;
using static ElasticTrain.Tests.Support.TestRanks;

namespace ElasticTrain.Tests.Reporting;

/// <summary>The sample trace keeps each committed step's lines once, filled in from the journal after a coordinator died.</summary>
public sealed class SampleTraceTests
{
    private static readonly RankId A = R("a/r0"), B = R("b/r0");

    private static StepSamples Sampled(long step) => new(step, 1, [(A, [(int)step * 2]), (B, [(int)step * 2 + 1])]);

    private static JournaledStep Journaled(long step) =>
        new(new StepCommitted(step, 1.0, 1, 2), [new RankSamples(A, [(int)step * 2]), new RankSamples(B, [(int)step * 2 + 1])]);

    private static List<(long Step, string Rank, int[] Samples)> Lines(string path) =>
        [.. File.ReadLines(path).Select(l => JsonDocument.Parse(l).RootElement).Select(r => (
            r.GetProperty("step").GetInt64(), r.GetProperty("rank").GetString()!,
            r.GetProperty("samples").EnumerateArray().Select(e => e.GetInt32()).ToArray()))];

    [Fact]
    public void The_next_generation_writes_a_step_the_dead_coordinator_committed_but_did_not_trace()
    {
        using var folder = new TempFolder();
        var path = Path.Combine(folder.Path, "samples.jsonl");
        using (var dead = new SampleTrace(path))
            for (var step = 1; step <= 3; step++) dead.Sampled(Sampled(step));

        using (var successor = new SampleTrace(path))
        {
            // Steps 3 and 4 are journaled after the last checkpoint; only 4 is missing from the file.
            successor.Running(new JobRunning("job", 5, 10, 2, 1, null, [Journaled(3), Journaled(4)]));
            successor.Sampled(Sampled(5));
        }

        var lines = Lines(path);
        Assert.Equal([1L, 1, 2, 2, 3, 3, 4, 4, 5, 5], lines.Select(l => l.Step));
        Assert.Equal([8], lines.Single(l => l.Step == 4 && l.Rank == A.ToString()).Samples);
        Assert.Equal([9], lines.Single(l => l.Step == 4 && l.Rank == B.ToString()).Samples);
    }

    [Fact]
    public void Journals_without_sample_ids_fill_nothing_in()
    {
        using var folder = new TempFolder();
        var path = Path.Combine(folder.Path, "samples.jsonl");
        using (var dead = new SampleTrace(path)) dead.Sampled(Sampled(1));
        using (var successor = new SampleTrace(path))
            successor.Running(new JobRunning("job", 3, 10, 2, 1, null, [new JournaledStep(new StepCommitted(2, 1.0, 1, 2), null)]));

        Assert.Equal([1L, 1], Lines(path).Select(l => l.Step));
    }
}
