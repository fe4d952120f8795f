using System.Globalization;
using ElasticTrain.Wire;

namespace ElasticTrain.Jobs;

/// <summary>
/// A rank of the job: the node that hosts it and its index among that node's ranks. Written
/// "HOST:PORT/rI". Ranks order by that text, ordinally: the ring order every member derives
/// from the same plan.
/// </summary>
public sealed record RankId(NodeAddress Node, int Index) : IWireMessage, IComparable<RankId>
{
    /// <summary>"HOST:PORT/rI"; throws <see cref="FormatException"/> otherwise.</summary>
    public static RankId Parse(string text)
    {
        var slash = text.LastIndexOf("/r", StringComparison.Ordinal);
        if (slash < 0 || !int.TryParse(text.AsSpan(slash + 2), NumberStyles.None, CultureInfo.InvariantCulture, out var index))
            throw new FormatException($"not HOST:PORT/rI: '{text}'");
        return new RankId(NodeAddress.Parse(text[..slash]), index);
    }

    public int CompareTo(RankId? other) => string.CompareOrdinal(ToString(), other?.ToString());

    public override string ToString() => $"{Node}/r{Index}";
}
