using Akka.Configuration;
using Akka.Persistence.Sql;
using ElasticTrain.Configuration;

namespace ElasticTrain.Cli.Hosting;

/// <summary>
/// Builds the one HOCON tree a node runs on, highest precedence first: command-line flags, the
/// user's --config file, then every assembly's embedded reference.conf and the persistence
/// plugin's defaults.
/// </summary>
public static class NodeConfig
{
    public static Config Defaults() =>
        HoconFiles.Reference(typeof(NodeConfig).Assembly)
            .WithFallback(HoconFiles.Reference(typeof(Jobs.JobConfig).Assembly))
            .WithFallback(SqlPersistence.DefaultConfiguration)
            // Pub-sub's and sharding's serializers from the start: another node's mediator, and a
            // parameter-server job's shard coordinator (its distributed data), talk to this one
            // before this node's own mediator (the web console's) or shard region has started.
            .WithFallback(Akka.Cluster.Tools.PublishSubscribe.DistributedPubSub.DefaultConfig())
            .WithFallback(Akka.Cluster.Sharding.ClusterSharding.DefaultConfig())
            // The cluster client's messages: operator commands reach the job through a node's receptionist.
            .WithFallback(Akka.Cluster.Tools.Client.ClusterClientReceptionist.DefaultConfig());

    public static Config Merge(Config flags, string? configFile)
    {
        var user = string.IsNullOrEmpty(configFile) ? Config.Empty : HoconFiles.Load(configFile);
        return flags.WithFallback(user).WithFallback(Defaults());
    }
}
