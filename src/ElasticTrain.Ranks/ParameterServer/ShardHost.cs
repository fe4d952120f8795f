using Akka.Actor;
using Akka.Cluster;
using Akka.Cluster.Sharding;
using Akka.Configuration;

namespace ElasticTrain.Ranks.ParameterServer;

/// <summary>
/// Starts a job's parameter-shard region on a node: hosting entities where the node has the
/// shards' role, as a proxy elsewhere (a node that only runs workers, or an operator command).
/// One region per job (<see cref="TypeName"/>), so the sharding coordinator's state, kept in
/// distributed data rather than a journal, is the job's alone.
/// </summary>
/// <remarks>
/// Akka places the shards (<see cref="ByteBalancedAllocation"/>) and stops one for a hand-off; it
/// moves no state and remembers no entities: who holds which step, and the state a moved shard
/// loads, are the job's to decide (the coordinator knows every shard's step, and the checkpoint it
/// may load). State-store-mode ddata keeps the placement in memory, replicated between the nodes:
/// losing it with every node loses nothing the job cannot rebuild, so no journal is written per move.
/// </remarks>
public static class ShardHost
{
    /// <summary>Every node has it (<c>akka.cluster.roles</c>), so by default every node hosts shards; a job may name a narrower role, such as "server".</summary>
    public const string DefaultRole = "node";

    /// <summary>
    /// The most shards one rebalance round moves: each move ends the generation and costs the moved
    /// replica a copy of its sibling's state, so moving all at once would stall every step. One: a
    /// round of two stops them milliseconds apart, and the first stop's new generation meets the
    /// second mid-move, which costs one more generation (docs/ARCHITECTURE.md, "Moves during a
    /// generation's start").
    /// </summary>
    public const int MovesPerRound = 1;

    /// <summary>The region's entity type name: the job's, so that two jobs on one cluster never share shards or coordinator state.</summary>
    public static string TypeName(string job) => $"parameter-shards-{job}";

    /// <summary>The job's region on this node: hosting its shards when the node has <paramref name="role"/>, a proxy when not.</summary>
    public static IActorRef Start(ActorSystem system, ShardSetup setup, string role = DefaultRole)
    {
        ArgumentNullException.ThrowIfNull(setup);
        if (!Cluster.Get(system).SelfRoles.Contains(role)) return StartProxy(system, setup.Job, role);
        // The extension first: it adds sharding's defaults to the system's config, which the settings read.
        var sharding = ClusterSharding.Get(system);
        // Never passivated: a shard's state lives only in its entity (and its backup's), so an
        // entity stopped for being idle (a long checkpoint, a paused job) would lose it.
        var config = ConfigurationFactory.ParseString("passivate-idle-entity-after = off")
            .WithFallback(system.Settings.Config.GetConfig("akka.cluster.sharding"));
        // The shard coordinator's singleton as Akka configures it: on a node, with the store's lease (use-lease), so
        // that two coordinators never place shards at once.
        var settings = ClusterShardingSettings.Create(config, system.Settings.Config.GetConfig(config.GetString("coordinator-singleton")))
            .WithRole(role)
            .WithStateStoreMode(StateStoreMode.DData)
            .WithRememberEntities(false);
        return sharding.Start(
            TypeName(setup.Job),
            entityId => ShardEntity.Props(setup, ElasticTrain.ParameterServer.ShardId.Parse(entityId)),
            settings,
            new ShardMessageExtractor(setup.Job),
            new ByteBalancedAllocation(setup.Plan, setup.Job, MovesPerRound, setup.Settled),
            PoisonPill.Instance);
    }

    /// <summary>The job's region as a proxy: it routes commands to the nodes with <paramref name="role"/> and hosts nothing.</summary>
    public static IActorRef StartProxy(ActorSystem system, string job, string role = DefaultRole) =>
        ClusterSharding.Get(system).StartProxy(TypeName(job), role, new ShardMessageExtractor(job));
}
