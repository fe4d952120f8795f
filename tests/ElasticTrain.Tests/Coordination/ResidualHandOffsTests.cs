using ElasticTrain.Coordination;
using ElasticTrain.Jobs;
using ElasticTrain.Pipeline;
using ElasticTrain.Ranks.Pipeline;
using static ElasticTrain.Coordination.MeshStatePlanner;
using static ElasticTrain.Tests.Support.TestRanks;

namespace ElasticTrain.Tests.Coordination;

public sealed class ResidualHandOffsTests
{
    private static readonly LayerRange Whole = new(0, 4);

    private static MeshLayout Dp(params string[] ranks) => MeshLayout.DataParallel(4, ranks.Select(R));

    private static (RankId, Holding)[] Live(long step, params string[] ranks) => [.. ranks.Select(r => (R(r), new Holding(Whole, step)))];

    [Fact]
    public void Ranks_leaving_a_data_parallel_mesh_hand_their_residuals_to_the_members_in_turn()
    {
        var handOffs = ResidualHandOffs.Decide(Dp("a", "b", "c", "d", "e"), Dp("b", "d"), Live(70, "a", "b", "c", "d", "e"), 70, keepsResiduals: true);
        Assert.Equal(new Dictionary<RankId, RankId> { [R("a")] = R("b"), [R("c")] = R("d"), [R("e")] = R("b") }, handOffs);
    }

    [Fact]
    public void Only_live_ranks_at_the_state_step_hand_off_and_only_when_compression_keeps_residuals()
    {
        // c died (not live), e fell behind; a joiner f was never in the mesh.
        var live = Live(70, "a", "b", "d", "f").Append((R("e"), new Holding(Whole, 69))).ToArray();
        Assert.Equal([R("a")], ResidualHandOffs.Decide(Dp("a", "b", "c", "d", "e"), Dp("b", "d", "f"), live, 70, true).Keys);
        Assert.Empty(ResidualHandOffs.Decide(Dp("a", "b"), Dp("b"), Live(70, "a", "b"), 70, keepsResiduals: false));
        Assert.Empty(ResidualHandOffs.Decide(null, Dp("b"), Live(70, "a", "b"), 70, true));
    }

    [Fact]
    public void Pipeline_meshes_move_residuals_with_their_layers_instead()
    {
        var pipeline = new MeshLayout(4, [0, 2], [[R("a"), R("b")], [R("c"), R("d")]], 4, ScheduleKind.OneFOneB);
        Assert.Empty(ResidualHandOffs.Decide(pipeline, Dp("a", "b"), Live(70, "a", "b", "c", "d"), 70, true));
        Assert.Empty(ResidualHandOffs.Decide(Dp("a", "b", "c", "d"), pipeline with { Grid = [[R("a"), R("b")]] }, Live(70, "a", "b", "c", "d"), 70, true));
    }
}
