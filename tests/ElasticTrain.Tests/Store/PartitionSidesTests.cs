using Akka.Actor;
using ElasticTrain.Cli.Store;

namespace ElasticTrain.Tests.Store;

/// <summary>Which side of a partition leaves the store's lease to the other (<see cref="PartitionSides.DefersTo"/>).</summary>
public sealed class PartitionSidesTests
{
    private static Address Host(int i) => new("akka.tcp", "elastictrain", $"10.0.0.{i}", 4053);

    private static string[] Alive(params int[] hosts) => [.. hosts.Select(i => $"10.0.0.{i}:4053")];

    [Fact]
    public void A_lone_node_leaves_the_lease_to_two_that_are_alive_in_the_store()
    {
        var lone = new PartitionSides([Host(1)], [Host(2), Host(3)]);
        Assert.True(lone.DefersTo(Alive(1, 2, 3)));
        Assert.Equal([Host(2), Host(3)], lone.LiveOther(Alive(1, 2, 3)));
    }

    [Fact]
    public void The_larger_side_never_defers()
    {
        var two = new PartitionSides([Host(2), Host(3)], [Host(1)]);
        Assert.False(two.DefersTo(Alive(1, 2, 3)));
    }

    [Fact]
    public void Survivors_do_not_wait_for_nodes_that_stopped_announcing_themselves()
    {
        // Two nodes killed at once: the survivor is the smaller side, but nobody over there is alive.
        var survivor = new PartitionSides([Host(3)], [Host(1), Host(2)]);
        Assert.False(survivor.DefersTo(Alive(3)));
    }

    [Fact]
    public void Only_the_other_sides_living_members_count()
    {
        // One of the two over there died: one against one, and the lower address keeps the job.
        var high = new PartitionSides([Host(3)], [Host(1), Host(2)]);
        Assert.True(high.DefersTo(Alive(1, 3)));
        Assert.True(high.DefersTo(Alive(2, 3)));
        var low = new PartitionSides([Host(1)], [Host(2), Host(3)]);
        Assert.False(low.DefersTo(Alive(1, 3)));
    }

    [Fact]
    public void Equal_sides_leave_the_lease_to_the_one_with_the_lowest_address()
    {
        var first = new PartitionSides([Host(1)], [Host(2)]);
        var second = new PartitionSides([Host(2)], [Host(1)]);
        Assert.False(first.DefersTo(Alive(1, 2)));
        Assert.True(second.DefersTo(Alive(1, 2)));
    }

    [Fact]
    public void A_side_with_nobody_across_has_nothing_to_defer_to()
    {
        Assert.False(new PartitionSides([Host(1), Host(2)], []).DefersTo(Alive(1, 2)));
    }
}
