using ElasticTrain.Checkpointing;
using ElasticTrain.Jobs;
using ElasticTrain.Training;

namespace ElasticTrain.Coordination;

/// <summary>What a node gives the <see cref="Coordinator"/> it may host: the job, and how patient to be.</summary>
/// <param name="Requested">This run's job config; its identity must match the journal's.</param>
/// <param name="ExpectedRanks">How many ranks to wait for before the first generation.</param>
/// <param name="MaxAttempts">Consecutive failed generations without a committed step before giving up; failures explained by a silent member do not count.</param>
/// <param name="JoinSettle">
/// Ranks that register mid-run join once no other rank has registered for this long (default
/// 500 ms), so a node's ranks, which register within moments of each other, enter in one
/// generation instead of one each. The job keeps stepping meanwhile.
/// </param>
/// <param name="LivenessTimeout">How long the members of a failed step have to answer before they are suspected (default 500 ms).</param>
/// <param name="SuspicionTimeout">
/// How long a suspect stays out unless it registers anew (default 10 s): by then the failure
/// detector has removed a node that is really gone, so one still registered was alive.
/// </param>
/// <param name="HoldsLease">
/// Whether this node still holds the store's lease for the coordinator; checked before every
/// journal write, so a coordinator whose lease lapsed (paused, cut off) writes nothing more.
/// Null: no lease (tests, a single process).
/// </param>
/// <param name="Outage">Shared by the coordinator instances of one node: how long the journal has been failing.</param>
/// <param name="Parallel">The mesh the job asks for (<c>elastictrain.parallel.*</c>); null: <see cref="MeshRequest.Auto"/>.</param>
/// <param name="HeldOut">The windows the job holds out for evaluation (0: none), as this node's data splits them.</param>
/// <param name="Shards">Parameter-server mode: the job's shard region on this node and the plan; null: all-reduce.</param>
/// <param name="StartRanks">How many ranks a new job's first generation waits for, if more than <paramref name="ExpectedRanks"/> (0: those).</param>
/// <param name="EpochOf">The data's epoch that the step after a given one reads from, for the metadata of the checkpoints shards write; null: 0.</param>
public sealed record CoordinatorSetup(
    JobConfig Requested, string IdentityHash, string DataFingerprint, int ExpectedRanks,
    CheckpointStore Checkpoints, TimeSpan StepTimeout, int MaxAttempts = 5, TimeSpan? JoinSettle = null,
    TimeSpan? LivenessTimeout = null, TimeSpan? SuspicionTimeout = null, Func<bool>? HoldsLease = null, StoreOutage? Outage = null,
    MeshRequest? Parallel = null, TrainingRecipe? Recipe = null, int HeldOut = 0, Ranks.ParameterServer.ShardAccess? Shards = null,
    Func<long, int>? EpochOf = null, int StartRanks = 0, string SecretCheck = "")
{
    public MeshRequest Mesh => Parallel ?? MeshRequest.Auto;

    /// <summary>The job's optimizer, schedule and clipping, which joining nodes learn with the job; null: <see cref="TrainingRecipe.Default"/>.</summary>
    public TrainingRecipe Training => Recipe ?? TrainingRecipe.Default;
    public TimeSpan Settle => JoinSettle ?? TimeSpan.FromMilliseconds(500);
    public TimeSpan Liveness => LivenessTimeout ?? TimeSpan.FromMilliseconds(500);
    public TimeSpan Suspicion => SuspicionTimeout ?? TimeSpan.FromSeconds(10);
}
