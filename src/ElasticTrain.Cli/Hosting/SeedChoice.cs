namespace ElasticTrain.Cli.Hosting;

/// <summary>
/// What a `node` that discovers its cluster does next, decided from one round of lookups: join a
/// node that answers, form the cluster itself, or wait. Pure; <see cref="DiscoveredStart"/> does
/// the lookups and carries the choice out.
/// </summary>
/// <remarks>
/// Only the lowest of the contact points forms a cluster, and only when nothing answers, enough
/// contact points are seen and two lookups in a row saw the same ones: nodes that see the same
/// contact points agree on one founder, whoever looks first. Nodes whose views differ (one is not
/// listed yet in the other's lookup) could each think themselves lowest; the stable view narrows
/// that window, and the store closes it (see <see cref="DiscoveredStart"/>).
/// </remarks>
public abstract record SeedChoice
{
    /// <summary>A node of the cluster answers here: join through it.</summary>
    public sealed record Join(string Endpoint) : SeedChoice;

    /// <summary>No cluster, and this node is the founder: form one and start the job.</summary>
    public sealed record Form(int ContactPoints) : SeedChoice;

    public sealed record Wait(string Reason) : SeedChoice;

    /// <param name="self">This node's HOST:PORT, as the others would discover it.</param>
    /// <param name="discovered">The contact points of this round's lookup (this node may be among them).</param>
    /// <param name="previous">The last round's, or null on the first round.</param>
    /// <param name="answering">The discovered contact points other than this node that accept a connection.</param>
    public static SeedChoice Decide(string self, IReadOnlyCollection<string> discovered, IReadOnlyCollection<string>? previous,
        IReadOnlyCollection<string> answering, int requiredContactPoints)
    {
        var others = answering.Where(a => a != self).Order(StringComparer.Ordinal).ToList();
        if (others.Count > 0) return new Join(others[0]);
        var points = discovered.Append(self).Distinct().Order(StringComparer.Ordinal).ToList();
        if (points.Count < requiredContactPoints)
            return new Wait($"{points.Count} of the {requiredContactPoints} contact points needed to form a cluster are known");
        if (previous is null || !points.SequenceEqual(previous.Append(self).Distinct().Order(StringComparer.Ordinal)))
            return new Wait("the contact points are still changing");
        return points[0] == self ? new Form(points.Count) : new Wait($"waiting for {points[0]}, the lowest contact point, to form the cluster");
    }
}
