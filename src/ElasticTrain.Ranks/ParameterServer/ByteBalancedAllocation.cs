using System.Collections.Immutable;
using Akka.Actor;
using Akka.Cluster.Sharding;
using ElasticTrain.ParameterServer;

namespace ElasticTrain.Ranks.ParameterServer;

/// <summary>
/// Akka's shard allocation for one job's parameter shards, weighed by bytes: a thin adapter that
/// hands Akka's regions to <see cref="ShardPlacement"/> as nodes. Each parameter shard is its own
/// Akka shard (<see cref="ShardMessageExtractor"/> makes the shard id the entity id), so an Akka
/// shard id is a <see cref="ShardId"/> and its bytes are the plan's.
/// </summary>
/// <remarks>
/// Regions are ordered by their actor path, so ties fall the same way on whichever node runs
/// Akka's shard coordinator. Regions that are shutting down or gone are not handed in by Akka, so a
/// shard is never placed on a node that is leaving.
/// </remarks>
public sealed class ByteBalancedAllocation : IShardAllocationStrategy
{
    private readonly ShardPlan _plan;
    private readonly string _job;
    private readonly int _movesPerRound;
    private readonly Func<Task<bool>>? _settled;

    /// <param name="movesPerRound">The most shards one rebalance round moves: each move costs the shard's state transfer.</param>
    /// <param name="settled">
    /// Whether every replica holds the job's state now. A round moves nothing until it does: a
    /// replica that has just moved holds nothing until its sibling's copy arrives, and moving the
    /// sibling before then would lose the pair's state to the last checkpoint. Null: always.
    /// </param>
    /// <exception cref="ArgumentException">An empty job name, or fewer than one move per round.</exception>
    public ByteBalancedAllocation(ShardPlan plan, string job, int movesPerRound, Func<Task<bool>>? settled = null)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentException.ThrowIfNullOrEmpty(job);
        ArgumentOutOfRangeException.ThrowIfLessThan(movesPerRound, 1);
        _plan = plan;
        _job = job;
        _movesPerRound = movesPerRound;
        _settled = settled;
    }

    public Task<IActorRef> AllocateShard(IActorRef requester, string shardId, IImmutableDictionary<IActorRef, IImmutableList<string>> currentShardAllocations) =>
        Task.FromResult(ShardPlacement.NodeFor(Nodes(currentShardAllocations), Parse(shardId)));

    public async Task<IImmutableSet<string>> Rebalance(IImmutableDictionary<IActorRef, IImmutableList<string>> currentShardAllocations, IImmutableSet<string> rebalanceInProgress)
    {
        if (_settled is not null && !await _settled()) return ImmutableHashSet<string>.Empty; // the next round asks again
        var moving = rebalanceInProgress.Select(Parse).ToHashSet();
        var moves = ShardPlacement.Rebalance(Nodes(currentShardAllocations), moving, _movesPerRound);
        return moves.Select(m => m.EntityId).ToImmutableHashSet();
    }

    private List<NodeShards<IActorRef>> Nodes(IImmutableDictionary<IActorRef, IImmutableList<string>> allocations) =>
    [
        .. allocations
            .OrderBy(a => a.Key.Path.ToString(), StringComparer.Ordinal)
            .Select(a => new NodeShards<IActorRef>(a.Key, [.. a.Value.Select(Parse).Select(id => new ShardLoad(id, _plan.BytesOf(id.Index)))])),
    ];

    /// <exception cref="ArgumentException">A shard id of another job or beyond the plan: the extractor never makes one.</exception>
    private ShardId Parse(string shardId)
    {
        var id = ShardId.Parse(shardId);
        if (id.Job != _job || id.Index >= _plan.Shards)
            throw new ArgumentException($"Shard '{shardId}' is not one of job '{_job}''s {_plan.Shards} parameter shards.", nameof(shardId));
        return id;
    }
}
