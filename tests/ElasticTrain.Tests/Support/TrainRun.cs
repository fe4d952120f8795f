using System.Security.Cryptography;
using System.Text.Json;
using ElasticTrain.Checkpointing;
using ElasticTrain.Cli;

namespace ElasticTrain.Tests;

/// <summary>Runs <c>elastictrain train</c> in this process over the tiny corpus and reads its metrics.</summary>
public sealed class TrainRun : IDisposable
{
    public string DataDirectory { get; } = Path.Combine(Path.GetTempPath(), "et-train-" + Guid.NewGuid().ToString("N"));

    public string Metrics => Path.Combine(DataDirectory, "metrics.jsonl");

    /// <summary>A tiny GPT: two blocks, width 32, context 32; a dozen steps take a second or two.</summary>
    public static readonly string[] TinyGpt =
        ["--model", "gpt", "--layers", "2", "--heads", "2", "--width", "32", "--block", "32", "--lr", "1e-3"];

    public Task<(int ExitCode, string Error)> RunAsync(params string[] args) => RunAsync(args, CancellationToken.None);

    /// <summary>As <see cref="RunAsync(string[])"/>; cancelling interrupts the run as Ctrl+C would (exit 130).</summary>
    public async Task<(int ExitCode, string Error)> RunAsync(string[] args, CancellationToken cancellation)
    {
        var error = new StringWriter();
        string[] data = args.Contains("--data") ? [] : ["--data", TinyCorpus.Path_];
        var all = new[] { "train", "--plain", "--data-dir", DataDirectory, "--metrics", Metrics }.Concat(data).Concat(args).ToArray();
        var code = await CliApp.RunAsync(all, error, cancellation);
        return (code, error.ToString());
    }

    public IReadOnlyList<JsonElement> Records(string type) =>
        File.Exists(Metrics)
            ? File.ReadLines(Metrics).Select(l => JsonDocument.Parse(l).RootElement).Where(r => r.GetProperty("type").GetString() == type).ToList()
            : [];

    /// <summary>Step number to loss, from the "step" records.</summary>
    public SortedDictionary<long, double> Losses() =>
        new(Records("step").ToDictionary(r => r.GetProperty("step").GetInt64(), r => r.GetProperty("loss").GetDouble()));

    /// <summary>
    /// The job's checkpoint of <paramref name="step"/>, one file or a manifest and its parts, read
    /// whole as a resume reads it (pieces joined); verified against its own hash, not the journal's.
    /// </summary>
    public NamedState Checkpoint(long step, string job = "main")
    {
        var path = CheckpointPath(step, job);
        // A single file carries its own checksum; a manifest is pinned by the hash of its bytes.
        var contents = path.EndsWith(".manifest.json", StringComparison.Ordinal)
            ? CheckpointReader.Read(path, Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(path))))
            : CheckpointFile.Read(path);
        return NamedState.FromSections(contents.Sections);
    }

    /// <summary>The checkpoint of <paramref name="step"/>: its manifest when it has parts, else its one file.</summary>
    public string CheckpointPath(long step, string job = "main")
    {
        var store = new CheckpointStore(Path.Combine(DataDirectory, "checkpoints"));
        return File.Exists(store.ManifestPathFor(job, step)) ? store.ManifestPathFor(job, step) : store.PathFor(job, step);
    }

    public void Dispose()
    {
        if (Directory.Exists(DataDirectory)) Directory.Delete(DataDirectory, recursive: true);
    }
}
