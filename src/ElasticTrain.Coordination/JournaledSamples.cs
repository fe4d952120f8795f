namespace ElasticTrain.Coordination;

/// <summary>
/// The sample ids of the steps committed after the last checkpoint, from the journal's
/// <see cref="StepSampled"/> events: the steps a reporter may have to fill in after a failover or a
/// resume. Bounded by the checkpoint period, since each checkpoint forgets the steps before it.
/// </summary>
public sealed class JournaledSamples
{
    private readonly SortedDictionary<long, RankSamples[]> _byStep = [];

    public void Add(StepSampled sampled) => _byStep[sampled.Step] = sampled.Samples;

    /// <summary>A checkpoint at <paramref name="step"/> was taken: no resume replays the steps up to it.</summary>
    public void ForgetThrough(long step)
    {
        foreach (var old in _byStep.Keys.TakeWhile(s => s <= step).ToList()) _byStep.Remove(old);
    }

    /// <summary>The journaled steps of <paramref name="state"/> since its checkpoint, with their sample ids where known.</summary>
    public IReadOnlyList<JournaledStep> Since(JobState state) =>
        [.. state.LossesSinceCheckpoint.Select(c => new JournaledStep(c, _byStep.GetValueOrDefault(c.Step)))];
}
