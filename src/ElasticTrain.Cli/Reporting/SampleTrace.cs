using ElasticTrain.Coordination;

namespace ElasticTrain.Cli.Reporting;

/// <summary>
/// The audit trail behind "every sample of an epoch is consumed exactly once": one JSON line per
/// rank per committed step, <c>{"step":k,"generation":g,"rank":"host:port/r0","samples":[ids]}</c>.
/// Written where the coordinator runs; steps replayed after a resume are not written again.
/// </summary>
public sealed class SampleTrace(string path) : IJobReporter
{
    private readonly JsonLinesFile _file = new(path);

    public void Sampled(StepSamples samples)
    {
        foreach (var (rank, ids) in samples.Slices)
            _file.Append(new { step = samples.Step, generation = samples.Generation, rank = rank.ToString(), samples = ids });
    }

    public void Dispose() => _file.Dispose();
}
