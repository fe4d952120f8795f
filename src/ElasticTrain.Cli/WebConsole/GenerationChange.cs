using ElasticTrain.Jobs;

namespace ElasticTrain.Cli.WebConsole;

/// <summary>
/// How the console labels a generation change on the curve: the nodes that joined and left, by
/// comparing the generation's members with the last one's. A node that left while it was draining
/// was drained; one whose ranks stay registered but idle was scaled down; any other was lost (it
/// died, or was cut off).
/// </summary>
public static class GenerationChange
{
    /// <param name="before">The previous generation's members; null for the job's first generation this node saw.</param>
    /// <param name="draining">Ranks the coordinator reported as draining before the change.</param>
    /// <param name="idle">Ranks registered but left out of the new generation (over the scale target).</param>
    /// <param name="resumedFrom">The checkpoint step the state came from, if it did.</param>
    public static string Describe(IReadOnlyCollection<RankId>? before, IReadOnlyCollection<RankId> after, IReadOnlySet<RankId> draining,
        IReadOnlyCollection<RankId> idle, long? resumedFrom)
    {
        var parts = new List<string>();
        if (before is null) parts.Add($"start: {Nodes(after)}");
        else
        {
            var beforeNodes = ByNode(before);
            var afterNodes = ByNode(after);
            foreach (var (node, ranks) in afterNodes.Where(n => !beforeNodes.ContainsKey(n.Key)))
                parts.Add($"+ {node} ({Ranks(ranks.Count)})");
            foreach (var (node, ranks) in afterNodes.Where(n => beforeNodes.TryGetValue(n.Key, out var old) && old.Count != n.Value.Count))
                parts.Add($"{node} {Ranks(beforeNodes[node].Count)} -> {ranks.Count}");
            foreach (var (node, ranks) in beforeNodes.Where(n => !afterNodes.ContainsKey(n.Key)))
                parts.Add($"- {node} ({Ranks(ranks.Count)}) {Why(ranks, draining, idle)}");
            if (parts.Count == 0) parts.Add("re-planned, same ranks");
        }
        if (resumedFrom is { } step) parts.Add($"from checkpoint {step}");
        return string.Join("; ", parts);
    }

    private static string Why(List<RankId> left, IReadOnlySet<RankId> draining, IReadOnlyCollection<RankId> idle) =>
        left.Any(draining.Contains) ? "drained" : left.All(idle.Contains) ? "idle (scaled down)" : "lost";

    private static Dictionary<NodeAddress, List<RankId>> ByNode(IEnumerable<RankId> ranks) =>
        ranks.GroupBy(r => r.Node).ToDictionary(g => g.Key, g => g.ToList());

    private static string Nodes(IEnumerable<RankId> ranks) =>
        string.Join(", ", ByNode(ranks).OrderBy(n => n.Key.ToString(), StringComparer.Ordinal).Select(n => $"{n.Key} ({Ranks(n.Value.Count)})"));

    private static string Ranks(int count) => count == 1 ? "1 rank" : $"{count} ranks";
}
