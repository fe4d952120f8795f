using ElasticTrain.Ranks.Optimization;
using ElasticTrain.Wire;

namespace ElasticTrain.Ranks.ParameterServer;

/// <summary>
/// The squared L2 norms of the rows a shard holds of parameter <paramref name="Parameter"/>: of
/// their weights and of LAMB's update for them. Added up over the shards, they are the whole
/// tensor's.
/// </summary>
public sealed record TensorNorms(string Parameter, double WeightSquares, double UpdateSquares) : IWireMessage;

/// <summary>LAMB's trust ratio of parameter <paramref name="Parameter"/>, from its whole tensor's norms.</summary>
public sealed record TrustRatio(string Parameter, double Ratio) : IWireMessage;

/// <summary>
/// LAMB across parameter shards: each tensor's trust ratio needs the norms of the whole tensor,
/// and a tensor split by rows is held by several shards. Every shard reports its rows' squared
/// norms; whoever drives the step adds them up per tensor here and hands every shard the ratios.
/// </summary>
public static class TrustRatios
{
    /// <summary>
    /// Each parameter's trust ratio from its shards' norms, added up in the order given (so the same
    /// shares always make the same ratio), in the order the parameters first appear.
    /// </summary>
    public static TrustRatio[] Of(IEnumerable<TensorNorms> shares)
    {
        ArgumentNullException.ThrowIfNull(shares);
        var sums = new Dictionary<string, (double Weight, double Update)>(StringComparer.Ordinal);
        var order = new List<string>();
        foreach (var share in shares)
        {
            if (!sums.TryGetValue(share.Parameter, out var sum)) order.Add(share.Parameter);
            sums[share.Parameter] = (sum.Weight + share.WeightSquares, sum.Update + share.UpdateSquares);
        }
        return [.. order.Select(name => new TrustRatio(name, UpdateRule.TrustRatio(Math.Sqrt(sums[name].Weight), Math.Sqrt(sums[name].Update))))];
    }
}
