using ElasticTrain.Cli.Hosting;

namespace ElasticTrain.Tests.Hosting;

public class SeedChoiceTests
{
    private const string A = "10.0.0.1:4053", B = "10.0.0.2:4053", C = "10.0.0.3:4053";

    [Fact]
    public void A_node_that_answers_is_joined_whoever_is_lowest()
    {
        Assert.Equal(new SeedChoice.Join(C), SeedChoice.Decide(A, [A, B, C], null, [C], 1));
        Assert.Equal(new SeedChoice.Join(B), SeedChoice.Decide(A, [A, B, C], [A, B, C], [C, B], 3));
    }

    [Fact]
    public void The_lowest_contact_point_forms_the_cluster_once_two_lookups_agree()
    {
        Assert.IsType<SeedChoice.Wait>(SeedChoice.Decide(A, [A, B, C], null, [], 1));
        Assert.Equal(new SeedChoice.Form(3), SeedChoice.Decide(A, [A, B, C], [C, B, A], [], 1));
        Assert.Equal(new SeedChoice.Wait($"waiting for {A}, the lowest contact point, to form the cluster"), SeedChoice.Decide(B, [A, B, C], [A, B, C], [], 1));
    }

    [Fact]
    public void A_node_missing_from_its_own_lookup_still_counts_itself()
    {
        Assert.Equal(new SeedChoice.Form(1), SeedChoice.Decide(A, [], [], [], 1));
        Assert.Equal(new SeedChoice.Form(2), SeedChoice.Decide(A, [B], [B], [], 2));
    }

    [Fact]
    public void Nobody_forms_while_the_contact_points_change_or_are_too_few()
    {
        Assert.Equal(new SeedChoice.Wait("the contact points are still changing"), SeedChoice.Decide(A, [A, B], [A], [], 1));
        Assert.Equal(new SeedChoice.Wait("2 of the 3 contact points needed to form a cluster are known"), SeedChoice.Decide(A, [A, B], [A, B], [], 3));
    }
}
