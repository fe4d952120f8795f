using ElasticTrain.ParameterServer;
using ElasticTrain.Ranks.ParameterServer;

namespace ElasticTrain.Coordination.ParameterServer;

/// <summary>
/// LAMB's extra round of a parameter-server step: every replica's norms of the update it would
/// make, gathered until all are in, then every tensor's trust ratio from the shards' shares.
/// </summary>
/// <param name="GradientSquares">The step's squared gradient norm, already added up from the first round.</param>
/// <param name="Replicas">Every replica the step waits for, shards in index order (backups among them).</param>
public sealed class TrustRound(double gradientSquares, IReadOnlyList<ShardId> replicas)
{
    private readonly Dictionary<ShardId, TensorNorms[]> _norms = [];

    public double GradientSquares { get; } = gradientSquares;

    /// <summary>Whether <paramref name="replica"/>'s norms are in.</summary>
    public bool Has(ShardId replica) => _norms.ContainsKey(replica);

    /// <summary>Takes a replica's norms; one not waited for, or given again, is ignored.</summary>
    public void Add(ShardId replica, TensorNorms[] norms)
    {
        if (replicas.Contains(replica)) _norms.TryAdd(replica, norms);
    }

    /// <summary>
    /// Every tensor's trust ratio once every replica's norms are in, else null. A backup measures
    /// what its shard measures (to the last bits: it may add the workers' slices in another order),
    /// so only the shards' own shares are added up, in index order, so that the same shares always
    /// make the same ratios.
    /// </summary>
    public TrustRatio[]? Ratios() =>
        replicas.All(_norms.ContainsKey)
            ? TrustRatios.Of(replicas.Where(r => !r.Backup).OrderBy(r => r.Index).SelectMany(r => _norms[r]))
            : null;
}
