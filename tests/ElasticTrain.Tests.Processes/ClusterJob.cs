using System.Text.Json;

namespace ElasticTrain.Tests.Processes;

/// <summary>
/// One multi-process job on loopback: the same tiny GPT job each time, so that every test compares
/// its loss curve with the same static 1-rank reference (<see cref="ReferenceRun"/>).
/// </summary>
public sealed class ClusterJob(int steps = ClusterJob.DefaultSteps) : IDisposable
{
    public const int ReferenceSteps = 400;

    /// <summary>
    /// Twice the reference: a job must still be running when the nodes a test adds have joined,
    /// whatever the machine's speed; its first 400 steps are compared with the reference.
    /// </summary>
    public const int DefaultSteps = 800;

    public int Steps => steps;

    public string Folder { get; } = Path.Combine(Path.GetTempPath(), "et-cluster-" + Guid.NewGuid().ToString("N"));

    public string Metrics => Path.Combine(Folder, "metrics.jsonl");

    /// <summary>The journal: a SQLite file in the job's folder unless a test sets a PostgreSQL connection string.</summary>
    public string Store { get; set; } = "";

    public string JobId { get; set; } = "main";

    public string Trace => Path.Combine(Folder, "samples.jsonl");

    /// <summary>
    /// The job's flags. One libtorch thread per process: two or three processes share the two
    /// cores, and more threads than cores only make every step, and every pause, longer.
    /// </summary>
    public string[] JobFlags(string data) =>
    [
        "--plain", "--threads", "1", "--model", "gpt", "--layers", "2", "--heads", "2", "--width", "64", "--block", "32",
        "--global-batch", "12", "--steps", steps.ToString(), "--checkpoint-every", "50", "--lr", "1e-3", "--data", data,
    ];

    /// <summary>Extra arguments for every process of the job, e.g. a --config file.</summary>
    public string[] Extra { get; set; } = [];

    /// <summary>Extra arguments for `train` only: the job's own settings, which joining nodes learn from it (e.g. --stages), or the train node's own (<see cref="SlowTrain"/>).</summary>
    public string[] TrainExtra { get; set; } = [];

    /// <summary>
    /// The train node's ranks take <paramref name="factor"/> times as long to compute
    /// (<c>elastictrain.debug.slowdown</c>): for a test whose job must outlast a node's absence.
    /// Alone, the train steps the tiny model at about 100 steps a second on a fast machine, and a
    /// node's way back (its removal, then a join) takes 10-30 s.
    /// </summary>
    public void SlowTrain(int factor)
    {
        Directory.CreateDirectory(Folder);
        var config = Path.Combine(Folder, "slow-train.conf");
        File.WriteAllText(config, $"elastictrain.debug.slowdown = {factor}\n");
        TrainExtra = [.. TrainExtra, "--config", config];
    }

    private string StoreOrDefault => Store.Length > 0 ? Store : Path.Combine(Folder, "journal.db");

    public ElasticTrainProcess StartTrain(string data, int port, int ranks, Host? at = null) => ElasticTrainProcess.StartIn(at?.Namespace,
        ["train", .. JobFlags(data), "--job", JobId, "--port", port.ToString(), "--ranks", ranks.ToString(), .. HostFlag(at),
         "--store", StoreOrDefault, "--data-dir", Path.Combine(Folder, "train"), "--metrics", Metrics, "--trace-samples", Trace, .. Extra, .. TrainExtra]);

    /// <summary>A joining node; where the coordinator moves to it, it appends to the same metrics and trace files.</summary>
    /// <param name="own">Arguments for this node only, after <see cref="Extra"/> (e.g. its --http-port).</param>
    public ElasticTrainProcess StartNode(int joinPort, int ranks, string name, int port = 0, Host? at = null, string joinHost = "127.0.0.1", string[]? own = null) =>
        ElasticTrainProcess.StartIn(at?.Namespace,
        ["node", "--plain", "--threads", "1", "--join", $"{joinHost}:{joinPort}", "--port", port.ToString(), "--ranks", ranks.ToString(), .. HostFlag(at),
         "--store", StoreOrDefault, "--data-dir", Path.Combine(Folder, name), "--metrics", Metrics, "--trace-samples", Trace, .. Extra, .. own ?? []]);

    /// <summary>Where a process runs on a <see cref="TestNetwork"/>: its namespace and its address there.</summary>
    public sealed record Host(string Namespace, string Address);

    private static string[] HostFlag(Host? at) => at is null ? [] : ["--host", at.Address];

    public List<JsonElement> Records(string type) => ElasticTrainProcess.Records(Metrics, type);

    public long LastStep() => Records("step") is { Count: > 0 } steps ? steps[^1].GetProperty("step").GetInt64() : 0;

    /// <summary>Waits until the metrics file shows what <paramref name="condition"/> asks for.</summary>
    public async Task WaitFor(Func<ClusterJob, bool> condition, string what, params ElasticTrainProcess[] processes)
    {
        var deadline = DateTime.UtcNow.AddMinutes(2);
        while (!condition(this))
        {
            if (DateTime.UtcNow > deadline)
                Assert.Fail($"timed out waiting for {what}:\n" + string.Join("\n---\n", processes.Select(p => p.Output)) + LogTails());
            await Task.Delay(50);
        }
    }

    /// <summary>
    /// Waits until each node has joined the job as a member, so that a test's next event (a kill)
    /// meets the node it means to: one that holds ranks, not one still being admitted.
    /// </summary>
    public Task WaitJoined(params ElasticTrainProcess[] nodes) =>
        WaitFor(_ => nodes.All(n => n.Output.Contains("joined job")), "the nodes to join the job", nodes);

    /// <summary>
    /// How long the job stood still after an event: the longest gap between consecutive commits
    /// from <paramref name="lastBefore"/> (the last step seen committed before it) on, by the
    /// metrics' clock. A step may still commit between that look and the event itself, so the
    /// gap is searched rather than taken at one step.
    /// </summary>
    public static TimeSpan PauseAfter(IReadOnlyList<JsonElement> steps, long lastBefore)
    {
        var times = steps.Where(r => r.GetProperty("step").GetInt64() >= lastBefore)
            .Select(r => r.GetProperty("time_ms").GetInt64()).ToList();
        return TimeSpan.FromMilliseconds(times.Zip(times.Skip(1), (a, b) => b - a).DefaultIfEmpty(0).Max());
    }

    /// <summary>The cluster's view from each process's Akka log: who was marked, downed, removed, joined.</summary>
    public string LogTails()
    {
        if (!Directory.Exists(Folder)) return "";
        var tails = Directory.GetFiles(Folder, "elastictrain.log", SearchOption.AllDirectories).Select(log =>
        {
            var lines = ReadShared(log).Split('\n')
                .Where(l => l.Contains("WARNING") || l.Contains("ERROR") || l.Contains("JOINING") || l.Contains("removing") || l.Contains("SBR") || l.Contains("resolver lease"))
                .TakeLast(30);
            return $"\n--- {Path.GetRelativePath(Folder, log)}\n" + string.Join('\n', lines);
        });
        return string.Concat(tails);
    }

    /// <summary>The Akka log of the process whose data folder is <paramref name="name"/> (`train`, or a node's name); empty before it exists.</summary>
    public string Log(string name)
    {
        var path = Path.Combine(Folder, name, "logs", "elastictrain.log");
        return File.Exists(path) ? ReadShared(path) : "";
    }

    /// <summary>A file a running process is still writing.</summary>
    private static string ReadShared(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        return new StreamReader(stream).ReadToEnd();
    }

    /// <summary>Every step run again after a reload reproduced the loss the journal holds for it (1e-4 relative).</summary>
    public void AssertReplaysMatchTheJournal() => ElasticTrainProcess.AssertReplaysMatchTheJournal(Metrics);

    public static int FreePort() => ElasticTrain.Cli.Benchmarks.LocalCluster.FreePort();

    public void Dispose()
    {
        if (Directory.Exists(Folder)) Directory.Delete(Folder, recursive: true);
    }
}

/// <summary>The static 1-rank run of <see cref="ClusterJob"/>'s job, computed once for the test class.</summary>
public sealed class ReferenceRun : IDisposable
{
    private readonly ClusterJob _job = new(ClusterJob.ReferenceSteps);

    public ReferenceRun()
    {
        Directory.CreateDirectory(_job.Folder);
        Data = Path.Combine(_job.Folder, "corpus.txt");
        var corpus = ElasticTrain.Data.Corpus.Load(null, Path.Combine(Path.GetTempPath(), "elastictrain-tests", "corpus-cache"));
        // 40 KB: 1,249 windows, 104 steps of 12 per epoch: 400 steps cross three epoch boundaries.
        File.WriteAllBytes(Data, corpus.Bytes.AsSpan(0, 40_000).ToArray());
        using var run = _job.StartTrain(Data, ClusterJob.FreePort(), ranks: 1);
        var code = run.WaitAsync(TimeSpan.FromMinutes(3)).GetAwaiter().GetResult();
        if (code != 0) throw new InvalidOperationException("reference run failed:\n" + run.Output);
        Losses = _job.Records("step").ToDictionary(r => r.GetProperty("step").GetInt64(), r => r.GetProperty("loss").GetDouble());
    }

    /// <summary>A 40 KB slice of the default corpus (the .NET SDK's XML docs), shared by the runs.</summary>
    public string Data { get; }

    public IReadOnlyDictionary<long, double> Losses { get; }

    /// <summary>Every step committed exactly once, each loss within 1e-4 relative of the reference.</summary>
    public void AssertSameCurve(ClusterJob job)
    {
        var steps = job.Records("step");
        Assert.Equal(Enumerable.Range(1, job.Steps).Select(i => (long)i), steps.Select(r => r.GetProperty("step").GetInt64()));
        // A longer job than the reference is compared over the reference's steps: its prefix is the same job.
        foreach (var record in steps.Take(ClusterJob.ReferenceSteps))
        {
            var step = record.GetProperty("step").GetInt64();
            var loss = record.GetProperty("loss").GetDouble();
            Assert.True(Math.Abs(loss - Losses[step]) <= 1e-4 * Math.Abs(Losses[step]),
                $"step {step}: {loss:R} vs reference {Losses[step]:R} at world {record.GetProperty("world").GetInt32()}");
        }
    }

    /// <summary>
    /// The sample trace shows each committed step once, with exactly the ids the seeded sampler
    /// assigns to that step, and no id twice within an epoch.
    /// </summary>
    public void AssertEachSampleOncePerEpoch(ClusterJob job)
    {
        var corpus = ElasticTrain.Data.Corpus.Load(Data);
        var schedule = new ElasticTrain.Data.EpochSchedule(1, new ElasticTrain.Data.WindowDataset(corpus, 33).Count, 12);
        var byStep = File.ReadLines(job.Trace).Select(l => System.Text.Json.JsonDocument.Parse(l).RootElement)
            .GroupBy(r => r.GetProperty("step").GetInt64())
            .ToDictionary(g => g.Key, g => g.ToList());
        Assert.Equal(Enumerable.Range(1, job.Steps).Select(i => (long)i), byStep.Keys.Order());
        var seen = new Dictionary<int, HashSet<int>>();
        foreach (var (step, slices) in byStep)
        {
            Assert.Single(slices.Select(s => s.GetProperty("generation").GetInt64()).Distinct());
            Assert.Equal(slices.Count, slices.Select(s => s.GetProperty("rank").GetString()).Distinct().Count());
            var ids = slices.SelectMany(s => s.GetProperty("samples").EnumerateArray().Select(e => e.GetInt32())).ToList();
            Assert.Equal(schedule.StepSampleIds(step - 1).Order(), ids.Order());
            var epoch = seen.TryGetValue(schedule.EpochOf(step - 1), out var set) ? set : seen[schedule.EpochOf(step - 1)] = [];
            foreach (var id in ids) Assert.True(epoch.Add(id), $"sample {id} consumed twice in epoch {schedule.EpochOf(step - 1)}");
        }
        Assert.True(seen.Count >= 3, "the run should span at least three epochs");
        Assert.Equal(schedule.StepsPerEpoch * 12, seen[0].Count);
    }

    public void Dispose() => _job.Dispose();
}
