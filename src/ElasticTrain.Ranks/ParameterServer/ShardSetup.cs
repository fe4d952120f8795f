using ElasticTrain.Checkpointing;
using ElasticTrain.Collectives.Transport;
using ElasticTrain.ParameterServer;
using ElasticTrain.Training;

namespace ElasticTrain.Ranks.ParameterServer;

/// <summary>
/// What a node gives every parameter-shard entity of a job it hosts: the job's shard plan and
/// update rule, and the node's data plane. The learning rate is not here: it comes with each
/// <see cref="ApplyShardStep"/>, from whoever plans the steps, so every shard applies the same one.
/// </summary>
/// <param name="Job">The job's id: the shards' <see cref="ShardId.Job"/>, and the one a checkpoint must be of.</param>
/// <param name="IdentityHash">The job's identity; a checkpoint of another is refused.</param>
/// <param name="Transport">The node's data plane; each entity opens its endpoint there under its entity id.</param>
/// <param name="ExchangeTimeout">How long a shard waits for a worker's frames, or for a worker to take its values.</param>
/// <param name="Seed">The whole model's state at step 0 (values from the job's seed, no optimizer slots yet): where a shard starts without a checkpoint.</param>
/// <param name="TorchThreads">libtorch's intra-op threads of each entity's thread (its optimizer's work).</param>
/// <param name="Settled">
/// Whether every replica holds the job's state now (asked of whoever drives the job): rebalancing
/// waits for it (<see cref="ByteBalancedAllocation"/>). Null: always.
/// </param>
public sealed record ShardSetup(
    string Job, string IdentityHash, ShardPlan Plan, OptimizerSettings Optimizer, double WeightDecay, TensorTransport Transport, TimeSpan ExchangeTimeout,
    Func<NamedState>? Seed = null, Func<Task<bool>>? Settled = null, int TorchThreads = 1);
