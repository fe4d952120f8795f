using ElasticTrain.Jobs;

namespace ElasticTrain.Tests.Support;

/// <summary>Short rank ids for tests: "a" is a:1/r0, "n/r1" is n:1/r1, "a:2/r0" is itself.</summary>
public static class TestRanks
{
    public static RankId R(string name)
    {
        var slash = name.LastIndexOf("/r", StringComparison.Ordinal);
        var node = slash < 0 ? name : name[..slash];
        var index = slash < 0 ? 0 : int.Parse(name[(slash + 2)..]);
        return new RankId(node.Contains(':') ? NodeAddress.Parse(node) : new NodeAddress(node, 1), index);
    }
}
