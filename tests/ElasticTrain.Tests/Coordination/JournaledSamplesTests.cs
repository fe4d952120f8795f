using ElasticTrain.Coordination;
using static ElasticTrain.Tests.Support.TestRanks;

namespace ElasticTrain.Tests.Coordination;

public sealed class JournaledSamplesTests
{
    private static StepSampled Sampled(long step) => new(step, [new RankSamples(R("n/r0"), [(int)step])]);

    [Fact]
    public void Pairs_each_step_since_the_checkpoint_with_its_sample_ids_and_forgets_those_a_checkpoint_covers()
    {
        var samples = new JournaledSamples();
        for (var step = 1; step <= 4; step++) samples.Add(Sampled(step));
        samples.ForgetThrough(2);
        // A journal from before sample ids were journaled: step 5 has none.
        var state = JobState.Empty with { CommittedStep = 5, LossesSinceCheckpoint = [new(3, 3.0, 1, 1), new(4, 2.0, 1, 1), new(5, 1.0, 1, 1)] };

        var since = samples.Since(state);

        Assert.Equal([3L, 4, 5], since.Select(s => s.Committed.Step));
        Assert.Equal([3], since[0].Samples!.Single().SampleIds);
        Assert.Equal([4], since[1].Samples!.Single().SampleIds);
        Assert.Null(since[2].Samples);
        samples.ForgetThrough(4);
        Assert.All(samples.Since(state), s => Assert.Null(s.Samples));
    }
}
