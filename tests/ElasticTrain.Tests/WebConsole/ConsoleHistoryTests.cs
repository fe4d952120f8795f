using ElasticTrain.Cli.WebConsole;
using ElasticTrain.Coordination;
using ElasticTrain.Jobs;
using static ElasticTrain.Tests.Support.TestRanks;

namespace ElasticTrain.Tests.WebConsole;

public sealed class ConsoleHistoryTests
{
    private static readonly RankId A = R("a:1/r0");
    private static readonly RankId B = R("b:2/r0");

    private static StepNews Step(long step) => new(step, 5.0 / step, 2, 1, 1000 * step, 10, 8, 8, 1, 0);

    private static GenerationNews Generation(long generation, long from, params RankId[] members) => new("j", generation, from, 100, "", members, null, []);

    [Fact]
    public void A_node_that_joined_late_takes_the_curve_and_the_changes_from_one_that_saw_them()
    {
        var early = new ConsoleHistory();
        early.Apply(Generation(1, 1, A));
        for (long s = 1; s <= 10; s++) early.Apply(Step(s));
        early.Apply(Generation(2, 11, A, B));
        early.Apply(Step(11));

        // The late node heard of generation 2 before the early node's history came: it could not tell who joined.
        var late = new ConsoleHistory();
        var unsure = Assert.IsType<MarkedGeneration>(late.Apply(Generation(2, 11, A, B)));
        Assert.StartsWith("start:", unsure.Text);
        late.Apply(Step(11));
        late.Apply(Step(12));
        late.Merge(early.ToRecord());

        var merged = late.ToRecord();
        Assert.Equal(Enumerable.Range(1, 12).Select(s => (long)s), merged.Steps.Select(s => s.Step));
        Assert.Equal(["start: a:1 (1 rank)", "+ b:2 (1 rank)"], merged.Marks.Select(m => m.Text));
        Assert.Equal("j", merged.JobId);
    }

    [Fact]
    public void A_node_that_left_is_told_drained_by_the_coordinator_s_list()
    {
        var history = new ConsoleHistory();
        history.Apply(Generation(1, 1, A, B));
        var drained = Assert.IsType<MarkedGeneration>(history.Apply(Generation(2, 5, A) with { Drained = [B] }));
        Assert.Equal("- b:2 (1 rank) drained", drained.Text);
        // Without the coordinator's word, a node that left was lost.
        var other = new ConsoleHistory();
        other.Apply(Generation(1, 1, A, B));
        Assert.Equal("- b:2 (1 rank) lost", Assert.IsType<MarkedGeneration>(other.Apply(Generation(2, 5, A))).Text);
    }

    [Fact]
    public void A_generation_already_marked_adds_nothing_and_a_step_told_twice_is_kept_once()
    {
        var history = new ConsoleHistory();
        Assert.NotNull(history.Apply(Generation(1, 1, A)));
        Assert.Null(history.Apply(Generation(1, 1, A)));
        history.Apply(Step(1));
        history.Apply(Step(1));
        Assert.Single(history.Steps);
    }

    [Fact]
    public void Past_its_bound_it_thins_the_older_half_and_keeps_the_recent_steps_whole()
    {
        var history = new ConsoleHistory(maxSteps: 100);
        for (long s = 1; s <= 1000; s++) history.Apply(Step(s));

        var steps = history.Steps.Select(s => s.Step).ToList();
        Assert.InRange(steps.Count, 50, 100);
        Assert.Equal(1, steps[0]);
        Assert.Equal(1000, steps[^1]);
        Assert.Equal(Enumerable.Range(1000 - 24, 25).Select(s => (long)s), steps.TakeLast(25));
        Assert.Equal(steps.Order(), steps);
    }
}
