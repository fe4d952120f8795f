using Akka.Cluster.Sharding;
using ElasticTrain.ParameterServer;

namespace ElasticTrain.Ranks.ParameterServer;

/// <summary>
/// Routes a job's <see cref="IShardCommand"/>s: the entity id is the command's <see cref="ShardId"/>,
/// and so is the Akka shard id, one Akka shard per parameter shard, so that Akka places (and
/// <see cref="ByteBalancedAllocation"/> weighs) each parameter shard on its own. Commands of another
/// job, and anything else, are not this region's: Akka drops them with a warning.
/// </summary>
public sealed class ShardMessageExtractor(string job) : IMessageExtractor
{
    public string? EntityId(object message) => message is IShardCommand command && command.Shard.Job == job ? command.Shard.EntityId : null;

    public object? EntityMessage(object message) => message;

    public string? ShardId(object message) => EntityId(message);

    public string ShardId(string entityId, object? messageHint = null) => entityId;
}
