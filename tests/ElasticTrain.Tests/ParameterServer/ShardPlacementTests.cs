using ElasticTrain.ParameterServer;

namespace ElasticTrain.Tests.ParameterServer;

public class ShardPlacementTests
{
    private static ShardLoad S(int index, long bytes) => new(new ShardId("job", index), bytes);

    private static NodeShards<string> Node(string name, params ShardLoad[] shards) => new(name, shards);

    [Fact]
    public void A_new_shard_goes_to_the_node_with_the_fewest_bytes_not_the_fewest_shards()
    {
        var nodes = new[] { Node("a", S(0, 900)), Node("b", S(1, 300), S(2, 300)), Node("c", S(3, 700)) };
        Assert.Equal("b", ShardPlacement.NodeFor(nodes));
    }

    [Fact]
    public void Ties_go_to_the_fewest_shards_then_to_the_first_node_given()
    {
        Assert.Equal("b", ShardPlacement.NodeFor([Node("a", S(0, 200), S(1, 200)), Node("b", S(2, 400))]));
        Assert.Equal("a", ShardPlacement.NodeFor([Node("a", S(0, 400)), Node("b", S(1, 400))]));
        Assert.Equal("b", ShardPlacement.NodeFor([Node("b"), Node("a")]));
        Assert.Throws<ArgumentException>(() => ShardPlacement.NodeFor(Array.Empty<NodeShards<string>>()));
    }

    [Fact]
    public void A_joining_node_takes_the_largest_shards_of_the_heaviest_until_none_is_above_its_share_plus_the_largest()
    {
        // 6 shards of 100..600 bytes (2100 in all) on two nodes, then a third joins: F = 700, U = 600.
        var nodes = new[] { Node("a", S(0, 600), S(1, 500), S(2, 400)), Node("b", S(3, 300), S(4, 200), S(5, 100)), Node("c") };
        var moves = ShardPlacement.Rebalance(nodes, new HashSet<ShardId>(), maxMoves: 10);
        // a holds 1500 > 1300: its largest (600) moves; then 900, 600, 600 are all within 1300.
        Assert.Equal([new ShardId("job", 0)], moves);
    }

    [Fact]
    public void Every_node_ends_within_its_fair_share_plus_the_largest_shard_whatever_the_start()
    {
        var random = new Random(5);
        for (var trial = 0; trial < 200; trial++)
        {
            var count = random.Next(1, 5);
            var shards = Enumerable.Range(0, random.Next(1, 30)).Select(i => S(i, random.Next(1, 1000))).ToList();
            // Everything on the first node: the worst start, as when the others have just joined.
            var placed = Enumerable.Range(0, count).Select(n => new List<ShardLoad>(n == 0 ? shards : [])).ToList();
            for (var round = 0; round < 100; round++)
            {
                var nodes = placed.Select((s, n) => Node($"n{n}", [.. s])).ToList();
                var moves = ShardPlacement.Rebalance(nodes, new HashSet<ShardId>(), maxMoves: 3);
                Assert.True(moves.Count <= 3);
                if (moves.Count == 0) break;
                foreach (var move in moves)
                {
                    var shard = placed.SelectMany(s => s).Single(s => s.Shard == move);
                    placed.Single(s => s.Contains(shard)).Remove(shard);
                    // As Akka does next: each moved shard is placed again, on the lightest node.
                    var target = ShardPlacement.NodeFor(placed.Select((s, n) => Node($"n{n}", [.. s])).ToList());
                    placed[int.Parse(target[1..])].Add(shard);
                }
            }
            var total = shards.Sum(s => s.Bytes);
            var bound = (double)total / count + shards.Max(s => s.Bytes);
            Assert.All(placed, s => Assert.True(s.Sum(x => x.Bytes) <= bound, $"trial {trial}: a node holds {s.Sum(x => x.Bytes)}, above {bound}"));
            Assert.Equal(shards.Count, placed.Sum(s => s.Count));
        }
    }

    [Fact]
    public void Shards_already_moving_stay_where_they_are_and_a_round_moves_at_most_its_limit()
    {
        var nodes = new[] { Node("a", S(0, 100), S(1, 100), S(2, 100), S(3, 100), S(4, 100), S(5, 100)), Node("b") };
        Assert.Equal(2, ShardPlacement.Rebalance(nodes, new HashSet<ShardId>(), maxMoves: 2).Count);
        var moving = new HashSet<ShardId> { new("job", 0), new("job", 1) };
        var moves = ShardPlacement.Rebalance(nodes, moving, maxMoves: 10);
        Assert.DoesNotContain(moves, moving.Contains);
        // a at 600 > 300 + 100 must lose 200; the moving two still count where they are.
        Assert.Equal([new ShardId("job", 2), new ShardId("job", 3)], moves);
    }

    [Fact]
    public void Nothing_moves_with_one_node_or_when_every_node_is_within_the_bound()
    {
        Assert.Empty(ShardPlacement.Rebalance([Node("a", S(0, 100), S(1, 900))], new HashSet<ShardId>(), 5));
        Assert.Empty(ShardPlacement.Rebalance([Node("a", S(0, 900)), Node("b", S(1, 100))], new HashSet<ShardId>(), 5));
        Assert.Empty(ShardPlacement.Rebalance([Node("a"), Node("b")], new HashSet<ShardId>(), 5));
    }

    private static ShardLoad B(int index, long bytes) => new(new ShardId("job", index, backup: true), bytes);

    [Fact]
    public void A_backup_never_goes_to_its_shards_node_while_there_is_another()
    {
        // b is lighter, but holds shard 0: its backup goes to a.
        Assert.Equal("a", ShardPlacement.NodeFor([Node("a", S(1, 500)), Node("b", S(0, 100))], new ShardId("job", 0, backup: true)));
        // And a shard restarted after its node died goes where its backup is not.
        Assert.Equal("b", ShardPlacement.NodeFor([Node("a", B(0, 100)), Node("b", S(1, 500))], new ShardId("job", 0)));
        // With one node, both live there.
        Assert.Equal("a", ShardPlacement.NodeFor([Node("a", S(0, 100))], new ShardId("job", 0, backup: true)));
    }

    [Fact]
    public void Backups_that_share_their_shards_node_move_first_when_a_second_node_joins()
    {
        var alone = Node("a", S(0, 100), B(0, 100), S(1, 300), B(1, 300));
        Assert.Empty(ShardPlacement.Rebalance([alone], new HashSet<ShardId>(), 2));
        var moves = ShardPlacement.Rebalance([alone, Node("b")], new HashSet<ShardId>(), 2);
        Assert.Equal([new ShardId("job", 0, backup: true), new ShardId("job", 1, backup: true)], moves);
        Assert.Equal([new ShardId("job", 0, backup: true)], ShardPlacement.Rebalance([alone, Node("b")], new HashSet<ShardId>(), 1));
    }

    [Fact]
    public void Neither_of_a_pair_moves_while_the_other_is_moving_and_a_round_moves_one_of_each_pair_at_most()
    {
        // a is far above its bound and holds only pairs: with no limit, the balance would take both of one.
        var nodes = new[] { Node("a", S(0, 500), B(0, 500), S(1, 100), B(1, 100)), Node("b"), Node("c") };
        var moves = ShardPlacement.Rebalance(nodes, new HashSet<ShardId>(), maxMoves: 10);
        Assert.Contains(B(0, 500).Shard, moves); // co-located backups go first
        Assert.DoesNotContain(S(0, 500).Shard, moves);

        // Spread out, with a above its bound: its largest is shard 0, whose backup is on its way to c.
        var spread = new[] { Node("a", S(0, 500), S(1, 400), S(2, 400)), Node("b", B(1, 400), B(2, 400)), Node("c", B(0, 500)), Node("d") };
        var balance = ShardPlacement.Rebalance(spread, new HashSet<ShardId> { B(0, 500).Shard }, maxMoves: 10);
        Assert.NotEmpty(balance);
        Assert.DoesNotContain(S(0, 500).Shard, balance);
        Assert.DoesNotContain(balance, m => balance.Contains(m.Sibling));
    }
}
