using ElasticTrain.Cli.WebConsole;
using ElasticTrain.Jobs;
using static ElasticTrain.Tests.Support.TestRanks;

namespace ElasticTrain.Tests.WebConsole;

public sealed class GenerationChangeTests
{
    private static readonly RankId[] A = [R("a:1/r0"), R("a:1/r1")];
    private static readonly RankId B = R("b:2/r0");
    private static readonly HashSet<RankId> None = [];

    [Fact]
    public void The_first_generation_names_its_nodes_and_a_resume_its_checkpoint() =>
        Assert.Equal("start: a:1 (2 ranks), b:2 (1 rank); from checkpoint 50", GenerationChange.Describe(null, [.. A, B], None, [], 50));

    [Fact]
    public void A_joining_node_is_added() =>
        Assert.Equal("+ b:2 (1 rank)", GenerationChange.Describe(A, [.. A, B], None, [], null));

    [Fact]
    public void A_node_that_left_was_drained_scaled_down_or_lost()
    {
        Assert.Equal("- b:2 (1 rank) drained", GenerationChange.Describe([.. A, B], A, new HashSet<RankId> { B }, [], null));
        Assert.Equal("- b:2 (1 rank) idle (scaled down)", GenerationChange.Describe([.. A, B], A, None, [B], null));
        Assert.Equal("- b:2 (1 rank) lost", GenerationChange.Describe([.. A, B], A, None, [], null));
    }

    [Fact]
    public void A_node_that_keeps_fewer_ranks_and_a_re_plan_of_the_same_ranks_are_told()
    {
        Assert.Equal("a:1 2 ranks -> 1", GenerationChange.Describe([.. A, B], [A[0], B], None, [A[1]], null));
        Assert.Equal("re-planned, same ranks", GenerationChange.Describe(A, A, None, [], null));
    }
}
