using System.Collections.Immutable;
using Akka.Actor;
using Akka.TestKit.Xunit2;
using ElasticTrain.ParameterServer;
using ElasticTrain.Ranks.ParameterServer;

namespace ElasticTrain.Tests.Ranks.ParameterServer;

/// <summary>
/// The adapter between Akka's shard regions and <see cref="ShardPlacement"/>: Akka's shard ids are
/// the plan's shard ids, weighed by the plan's bytes. Test probes stand in for the regions.
/// </summary>
public class ByteBalancedAllocationTests : TestKit
{
    // One matrix kept whole (4000 bytes) and four small ones (400 each): shards of very unequal bytes.
    private static readonly ShardPlan Plan = ShardPlan.Balanced(
        [new ParameterShape("big", [1000], 4), .. Enumerable.Range(0, 4).Select(i => new ParameterShape($"small{i}", [100], 4))], 5);

    private static string Id(int index) => new ShardId("job", index).EntityId;

    private readonly IActorRef _a;
    private readonly IActorRef _b;
    private readonly IActorRef _c;

    public ByteBalancedAllocationTests()
    {
        // Named so that the path order is a, b, c.
        (_a, _b, _c) = (CreateTestProbe("a").Ref, CreateTestProbe("b").Ref, CreateTestProbe("c").Ref);
    }

    private int BigShard => Enumerable.Range(0, Plan.Shards).Single(s => Plan.BytesOf(s) == 4000);

    private int[] SmallShards => [.. Enumerable.Range(0, Plan.Shards).Where(s => s != BigShard)];

    private static IImmutableDictionary<IActorRef, IImmutableList<string>> Allocations(params (IActorRef Region, int[] Shards)[] regions) =>
        regions.ToImmutableDictionary(r => r.Region, r => (IImmutableList<string>)r.Shards.Select(Id).ToImmutableList());

    [Fact]
    public async Task A_new_shard_goes_to_the_region_with_the_fewest_bytes_where_counting_shards_would_pick_the_other()
    {
        var allocation = new ByteBalancedAllocation(Plan, "job", movesPerRound: 2);
        var small = SmallShards;
        // a holds the one large shard, b three small ones: b has more shards but far fewer bytes.
        var current = Allocations((_a, [BigShard]), (_b, [small[0], small[1], small[2]]));
        Assert.Equal(_b, await allocation.AllocateShard(_a, Id(small[3]), current));
    }

    [Fact]
    public async Task Regions_with_equal_bytes_and_shards_resolve_the_same_way_whatever_their_order()
    {
        var allocation = new ByteBalancedAllocation(Plan, "job", movesPerRound: 2);
        var small = SmallShards;
        Assert.Equal(_a, await allocation.AllocateShard(_c, Id(small[2]), Allocations((_c, [small[0]]), (_a, [small[1]]))));
        Assert.Equal(_a, await allocation.AllocateShard(_c, Id(small[2]), Allocations((_a, [small[1]]), (_c, [small[0]]))));
    }

    [Fact]
    public async Task A_joined_region_gets_shards_moved_to_it_by_bytes_within_the_round_limit()
    {
        var even = ShardPlan.Balanced([.. Enumerable.Range(0, 6).Select(i => new ParameterShape($"p{i}", [100], 4))], 6);
        var allocation = new ByteBalancedAllocation(even, "job", movesPerRound: 1);
        // 2400 bytes on a, b just joined: the share is 1200 and the largest shard 400, so a must lose two.
        var all = Allocations((_a, [0, 1, 2, 3, 4, 5]), (_b, []));
        var first = await allocation.Rebalance(all, ImmutableHashSet<string>.Empty);
        Assert.Single(first);
        var second = await allocation.Rebalance(all, first);
        Assert.Single(second);
        Assert.DoesNotContain(first.Single(), second);
    }

    [Fact]
    public async Task Nothing_moves_while_every_region_is_within_its_share_plus_the_largest_shard()
    {
        var allocation = new ByteBalancedAllocation(Plan, "job", movesPerRound: 2);
        // a holds all 5600 bytes, b and c none: 5600 is within 5600 / 3 + 4000, the large shard alone
        // sets the bound, and the node holding it cannot hold less than 4000 anyway.
        var current = Allocations((_a, [BigShard, .. SmallShards]), (_b, []), (_c, []));
        Assert.Empty(await allocation.Rebalance(current, ImmutableHashSet<string>.Empty));
    }

    [Fact]
    public async Task A_shard_id_of_another_job_or_beyond_the_plan_is_refused()
    {
        var allocation = new ByteBalancedAllocation(Plan, "job", movesPerRound: 2);
        var current = Allocations((_a, []));
        await Assert.ThrowsAsync<ArgumentException>(() => allocation.Rebalance(
            ImmutableDictionary<IActorRef, IImmutableList<string>>.Empty.Add(_a, ImmutableList.Create(new ShardId("other", 0).EntityId)), ImmutableHashSet<string>.Empty));
        await Assert.ThrowsAsync<ArgumentException>(() => allocation.Rebalance(current, ImmutableHashSet.Create(new ShardId("job", 5).EntityId)));
        Assert.Throws<ArgumentOutOfRangeException>(() => new ByteBalancedAllocation(Plan, "job", movesPerRound: 0));
    }

    [Fact]
    public async Task No_shard_moves_while_the_job_says_its_replicas_are_not_settled()
    {
        var even = ShardPlan.Balanced([.. Enumerable.Range(0, 6).Select(i => new ParameterShape($"p{i}", [100], 4))], 6);
        var settled = false;
        var allocation = new ByteBalancedAllocation(even, "job", movesPerRound: 2, settled: () => Task.FromResult(settled));
        var all = Allocations((_a, [0, 1, 2, 3, 4, 5]), (_b, []));
        Assert.Empty(await allocation.Rebalance(all, ImmutableHashSet<string>.Empty));
        settled = true;
        Assert.Equal(2, (await allocation.Rebalance(all, ImmutableHashSet<string>.Empty)).Count);
    }
}

