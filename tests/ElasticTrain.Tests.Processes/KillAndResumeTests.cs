namespace ElasticTrain.Tests.Processes;

/// <summary>
/// Durable progress (DESIGN property 3): kill -9 the only process mid-run, run the same command
/// again, and the job resumes from its last checkpoint, replays the steps after it with the losses
/// the journal recorded, and ends with the curve of an uninterrupted run.
/// </summary>
public sealed class KillAndResumeTests : IDisposable
{
    private readonly string _folder = Path.Combine(Path.GetTempPath(), "et-proc-" + Guid.NewGuid().ToString("N"));

    private string[] Job(string id, string dataDirectory, string metrics) =>
    [
        "train", "--plain", "--job", id, "--model", "gpt", "--layers", "2", "--heads", "2", "--width", "32", "--block", "32",
        "--global-batch", "8", "--steps", "120", "--checkpoint-every", "10", "--lr", "1e-3", "--ranks", "2",
        "--data", DataFile(), "--data-dir", dataDirectory, "--metrics", metrics,
    ];

    /// <summary>A 200 KB slice of the default corpus (the .NET SDK's XML docs): real text, quick to load.</summary>
    private string DataFile()
    {
        var path = Path.Combine(_folder, "corpus.txt");
        if (!File.Exists(path))
        {
            Directory.CreateDirectory(_folder);
            var corpus = ElasticTrain.Data.Corpus.Load(null, Path.Combine(Path.GetTempPath(), "elastictrain-tests", "corpus-cache"));
            File.WriteAllBytes(path, corpus.Bytes.AsSpan(0, 200_000).ToArray());
        }
        return path;
    }

    [Fact]
    public async Task Kill_9_mid_run_then_the_same_command_resumes_and_matches_an_uninterrupted_run()
    {
        var reference = await ReferenceRun();

        var metrics = Path.Combine(_folder, "killed.jsonl");
        var data = Path.Combine(_folder, "killed");
        long killedAfter;
        using (var run = ElasticTrainProcess.Start(Job("killed", data, metrics)))
        {
            // Kill once a checkpoint exists and a few steps beyond it are committed, so the resume
            // both restores state and replays journaled steps.
            var deadline = DateTime.UtcNow.AddMinutes(2);
            while (true)
            {
                var checkpoints = ElasticTrainProcess.Records(metrics, "checkpoint");
                var steps = ElasticTrainProcess.Records(metrics, "step");
                if (checkpoints.Count > 0 && steps.Count > 0 && steps[^1].GetProperty("step").GetInt64() >= checkpoints[^1].GetProperty("step").GetInt64() + 3)
                    break;
                Assert.True(DateTime.UtcNow < deadline, "no checkpoint within 2 minutes:\n" + run.Output);
                await Task.Delay(20);
            }
            run.KillHard();
            killedAfter = ElasticTrainProcess.Records(metrics, "step")[^1].GetProperty("step").GetInt64();
        }
        Assert.True(killedAfter < 120, "the run finished before it could be killed");
        var lastCheckpoint = ElasticTrainProcess.Records(metrics, "checkpoint")[^1].GetProperty("step").GetInt64();

        using (var run = ElasticTrainProcess.Start(Job("killed", data, metrics)))
            Assert.True(await run.WaitAsync(TimeSpan.FromMinutes(3)) == 0, run.Output);

        // Resumed after the last checkpoint the journal recorded (a kill may beat the notice to the file).
        var resume = Assert.Single(ElasticTrainProcess.Records(metrics, "resume"));
        Assert.InRange(resume.GetProperty("from_step").GetInt64(), lastCheckpoint + 1, killedAfter);
        // The steps between that checkpoint and the kill ran again and reproduced their journaled losses.
        Assert.NotEmpty(ElasticTrainProcess.Records(metrics, "replay"));
        ElasticTrainProcess.AssertReplaysMatchTheJournal(metrics);
        AssertSameCurve(reference, metrics);
    }

    /// <summary>
    /// A 1x4 pipeline (one process, four ranks, one stage each) is killed with SIGKILL after its
    /// first checkpoint, written in four parts; the same job run again on two ranks of plain data
    /// parallelism (2x1) loads the parts by parameter name, with no conversion step, and finishes
    /// with the curve of an uninterrupted 2-rank run.
    /// </summary>
    [Fact]
    public async Task A_1x4_pipeline_killed_with_9_resumes_from_its_checkpoint_parts_as_2x1()
    {
        var reference = await ReferenceRun();

        var metrics = Path.Combine(_folder, "pipeline.jsonl");
        var data = Path.Combine(_folder, "pipeline");
        var job = Job("pipeline", data, metrics);
        job[Array.IndexOf(job, "--ranks") + 1] = "4";
        using (var run = ElasticTrainProcess.Start([.. job, "--stages", "4", "--micro-batches", "4"]))
        {
            var deadline = DateTime.UtcNow.AddMinutes(2);
            while (ElasticTrainProcess.Records(metrics, "checkpoint").Count == 0)
            {
                Assert.True(DateTime.UtcNow < deadline, "no checkpoint within 2 minutes:\n" + run.Output);
                await Task.Delay(20);
            }
            run.KillHard();
        }
        var checkpoint = ElasticTrainProcess.Records(metrics, "checkpoint")[^1];
        Assert.EndsWith(".manifest.json", checkpoint.GetProperty("path").GetString());

        using (var run = ElasticTrainProcess.Start([.. Job("pipeline", data, metrics), "--stages", "1"]))
            Assert.True(await run.WaitAsync(TimeSpan.FromMinutes(3)) == 0, run.Output);

        var resume = Assert.Single(ElasticTrainProcess.Records(metrics, "resume"));
        Assert.Equal("2x1", resume.GetProperty("mesh").GetString());
        // After the last checkpoint the journal recorded (a kill may beat the notice to the file).
        Assert.True(resume.GetProperty("from_step").GetInt64() > checkpoint.GetProperty("step").GetInt64(), resume.ToString());
        Assert.Equal(1, resume.GetProperty("from_step").GetInt64() % 10);
        AssertSameCurve(reference, metrics);
    }

    /// <summary>The uninterrupted 2-rank run of the job, for the curves to be compared with; its metrics file.</summary>
    private async Task<string> ReferenceRun()
    {
        var reference = Path.Combine(_folder, "reference.jsonl");
        using var run = ElasticTrainProcess.Start(Job("reference", Path.Combine(_folder, "reference"), reference));
        Assert.True(await run.WaitAsync(TimeSpan.FromMinutes(3)) == 0, run.Output);
        return reference;
    }

    /// <summary>Every step committed exactly once, and the curve is the uninterrupted one (1e-4 relative).</summary>
    private static void AssertSameCurve(string reference, string metrics)
    {
        var steps = ElasticTrainProcess.Records(metrics, "step");
        Assert.Equal(Enumerable.Range(1, 120).Select(i => (long)i), steps.Select(r => r.GetProperty("step").GetInt64()));
        var expected = ElasticTrainProcess.Records(reference, "step").ToDictionary(r => r.GetProperty("step").GetInt64(), r => r.GetProperty("loss").GetDouble());
        foreach (var record in steps)
        {
            var step = record.GetProperty("step").GetInt64();
            var loss = record.GetProperty("loss").GetDouble();
            Assert.True(Math.Abs(loss - expected[step]) <= 1e-4 * Math.Abs(expected[step]), $"step {step}: {loss} vs {expected[step]}");
        }
    }

    public void Dispose()
    {
        if (Directory.Exists(_folder)) Directory.Delete(_folder, recursive: true);
    }
}
