using ElasticTrain.Coordination;
using ElasticTrain.Jobs;

namespace ElasticTrain.Cli.Reporting;

/// <summary>
/// The audit trail behind "every sample of an epoch is consumed exactly once": one JSON line per
/// rank per committed step, <c>{"step":k,"generation":g,"rank":"host:port/r0","samples":[ids]}</c>.
/// Written where the coordinator runs; steps replayed after a resume are not written again. A step
/// whose coordinator died between its commit and its lines is written by the next generation from
/// the journal, which keeps each step's sample ids; each step has its lines once (<see cref="StepLines"/>).
/// </summary>
public sealed class SampleTrace(string path) : IJobReporter
{
    private readonly StepLines _file = new(path, line => line.TryGetProperty("samples", out _));

    public void Running(JobRunning r)
    {
        if (r.FromStep == 1 && r.ResumedFrom is null) _file.StartOver();
        if (_file.LastStep == 0) return; // a file of this process's own: it starts where the process did
        foreach (var step in r.Journaled.Where(s => s.Samples is not null).OrderBy(s => s.Committed.Step))
            Append(step.Committed.Step, step.Committed.Generation, step.Samples!.Select(s => (s.Rank, s.SampleIds)));
    }

    public void Sampled(StepSamples samples) => Append(samples.Step, samples.Generation, samples.Slices);

    private void Append(long step, long generation, IEnumerable<(RankId Rank, int[] SampleIds)> slices) =>
        _file.AppendStep(step, slices.Select(s => (object)new { step, generation, rank = s.Rank.ToString(), samples = s.SampleIds }));

    public void Dispose() => _file.Dispose();
}
