namespace ElasticTrain.ParameterServer;

/// <summary>A parameter shard as placement sees it: its identity and the bytes its values take.</summary>
public sealed record ShardLoad(ShardId Shard, long Bytes);

/// <summary>A node that hosts parameter shards, and those it holds now.</summary>
public sealed record NodeShards<TNode>(TNode Node, IReadOnlyList<ShardLoad> Shards) where TNode : notnull
{
    public long Bytes => Shards.Sum(s => s.Bytes);
}

/// <summary>
/// Where parameter shards live: a new shard on the node holding the fewest bytes, and, when nodes
/// join or leave, which shards to move so that no node holds more than its fair share plus the
/// largest shard. Plain values, no Akka: <c>ByteBalancedAllocation</c> hands Akka's shard regions
/// in as nodes. Shards differ in bytes (a plan balances them only up to its bound, and tensors kept
/// whole make some larger), so counting shards, as Akka's least-shard strategy does, can leave one
/// node with far more bytes, and so more memory and more traffic per step, than another.
/// </summary>
/// <remarks>
/// <para>
/// Ties are decided by the order the nodes are given in (then, among a node's shards, by
/// <see cref="ShardId"/>), so the same allocation always gives the same answer; the caller gives the
/// nodes in a stable order.
/// </para>
/// <para>
/// Why <see cref="Rebalance{TNode}"/> ends, and where: with F the fair share (all bytes over all
/// nodes) and U the largest shard, while the heaviest node H holds more than F + U the lightest L
/// holds less than F, so moving any shard s (s ≤ U) of H to L leaves L + s below F + U, and since
/// H - L > U ≥ s the sum of the squared loads falls by 2s(H - L - s) > 0: the loads cannot repeat, so
/// the moves end, and they end only when no node is above F + U. A round stops sooner at its move
/// limit; the next round goes on from where the moves left the nodes.
/// </para>
/// </remarks>
public static class ShardPlacement
{
    /// <summary>
    /// The node for a new shard: the one holding the fewest bytes; on a tie, the fewest shards, then
    /// the first given. Never the node of <paramref name="shard"/>'s sibling (a shard's backup, a
    /// backup's shard) while there is another: the pair must not die with one node.
    /// </summary>
    /// <exception cref="ArgumentException">No nodes.</exception>
    public static TNode NodeFor<TNode>(IReadOnlyList<NodeShards<TNode>> nodes, ShardId? shard = null) where TNode : notnull
    {
        ArgumentNullException.ThrowIfNull(nodes);
        if (nodes.Count == 0) throw new ArgumentException("There is no node to place a shard on.", nameof(nodes));
        if (shard is not null && nodes.Where(n => !Holds(n, shard.Sibling)).ToList() is { Count: > 0 } apart) nodes = apart;
        var best = nodes[0];
        foreach (var node in nodes.Skip(1))
            if (node.Bytes < best.Bytes || (node.Bytes == best.Bytes && node.Shards.Count < best.Shards.Count))
                best = node;
        return best.Node;
    }

    /// <summary>
    /// The shards to move this round, at most <paramref name="maxMoves"/>: first the backups that
    /// share a node with their shard (placed there while it was the only node), then from the
    /// heaviest node its largest shard, as if onto the lightest node, until no node holds more than
    /// the fair share plus the largest shard (see the remarks). Shards in <paramref name="moving"/> are already on
    /// their way: they count where they are but are not chosen again. A moved replica starts empty and
    /// copies its sibling's state, so neither of a pair moves while the other is moving, and a round
    /// moves at most one of each pair. Where a moved shard lands is
    /// decided when it is placed again (<see cref="NodeFor{TNode}"/>), which picks the lightest node
    /// away from its sibling.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxMoves"/> below 1.</exception>
    public static IReadOnlyList<ShardId> Rebalance<TNode>(IReadOnlyList<NodeShards<TNode>> nodes, IReadOnlySet<ShardId> moving, int maxMoves)
        where TNode : notnull
    {
        ArgumentNullException.ThrowIfNull(nodes);
        ArgumentNullException.ThrowIfNull(moving);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxMoves, 1);
        var all = nodes.SelectMany(n => n.Shards).ToList();
        if (nodes.Count < 2 || all.Count == 0) return [];
        var total = all.Sum(s => s.Bytes);
        var largest = all.Max(s => s.Bytes);
        // Above F + U, in whole numbers: bytes * nodes > total + U * nodes.
        bool OverBound(long bytes) => bytes * nodes.Count > total + largest * nodes.Count;

        var loads = nodes.Select(n => n.Bytes).ToArray();
        bool PairAtRest(ShardId shard) => !moving.Contains(shard) && !moving.Contains(shard.Sibling);
        var movable = nodes.Select(n => n.Shards.Where(s => PairAtRest(s.Shard))
            .OrderByDescending(s => s.Bytes).ThenBy(s => s.Shard).ToList()).ToArray();
        var moves = nodes.SelectMany(n => n.Shards.Where(s => s.Shard.Backup && PairAtRest(s.Shard) && Holds(n, s.Shard.Sibling)))
            .Select(s => s.Shard).Order().Take(maxMoves).ToList();
        if (moves.Count > 0) return moves; // the next round balances, once they have landed
        while (moves.Count < maxMoves)
        {
            var heaviest = IndexOf(loads, (a, b) => a > b);
            if (!OverBound(loads[heaviest]) || movable[heaviest].Count == 0) break;
            var lightest = IndexOf(loads, (a, b) => a < b);
            var at = movable[heaviest].FindIndex(s => !moves.Contains(s.Shard.Sibling));
            if (at < 0) break;
            var shard = movable[heaviest][at];
            movable[heaviest].RemoveAt(at);
            loads[heaviest] -= shard.Bytes;
            loads[lightest] += shard.Bytes;
            moves.Add(shard.Shard);
        }
        return moves;
    }

    private static bool Holds<TNode>(NodeShards<TNode> node, ShardId shard) where TNode : notnull => node.Shards.Any(s => s.Shard == shard);

    /// <summary>The first index whose load beats every other by <paramref name="better"/>.</summary>
    private static int IndexOf(long[] loads, Func<long, long, bool> better)
    {
        var at = 0;
        for (var i = 1; i < loads.Length; i++)
            if (better(loads[i], loads[at])) at = i;
        return at;
    }
}
