using Akka.Actor;
using ElasticTrain.ParameterServer;

namespace ElasticTrain.Ranks.ParameterServer;

/// <summary>What a worker of a parameter-server job needs of the shards: the job's shard region on its node (or a proxy), and the plan of which shard holds which rows.</summary>
public sealed record ShardAccess(IActorRef Region, ShardPlan Plan);
