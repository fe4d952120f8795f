using System.Text.Json;
using ElasticTrain.Coordination;

namespace ElasticTrain.Cli.Reporting;

/// <summary>
/// The audit trail behind "every sample of an epoch is consumed exactly once": one JSON line per
/// rank per committed step, <c>{"step":k,"generation":g,"rank":"host:port/r0","samples":[ids]}</c>.
/// Written where the coordinator runs; steps replayed after a resume are not written again.
/// </summary>
public sealed class SampleTrace(string path) : IJobReporter
{
    private readonly StreamWriter _writer = Open(path);

    private static StreamWriter Open(string path)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        return new StreamWriter(new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite)) { AutoFlush = true };
    }

    public void Sampled(StepSamples samples)
    {
        foreach (var (rank, ids) in samples.Slices)
            _writer.WriteLine(JsonSerializer.Serialize(new { step = samples.Step, generation = samples.Generation, rank, samples = ids }));
    }

    public void Dispose() => _writer.Dispose();
}
