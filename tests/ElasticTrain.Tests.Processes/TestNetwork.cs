using ElasticTrain.Cli.Benchmarks;

namespace ElasticTrain.Tests.Processes;

/// <summary>
/// A <see cref="NamespaceNetwork"/> for a test: hosts in network namespaces of their own, which a
/// test can cut and heal. The store, a SQLite file, stays reachable from every side, as a database
/// server would. Skipped where namespaces cannot be made (not root, no iproute2), required in CI
/// (ELASTICTRAIN_REQUIRE_NETNS=1).
/// </summary>
public sealed class TestNetwork : IDisposable
{
    private readonly NamespaceNetwork _network;

    private TestNetwork(int hosts) => _network = new NamespaceNetwork(hosts);

    public static TestNetwork Create(int hosts)
    {
        if (Environment.GetEnvironmentVariable("ELASTICTRAIN_REQUIRE_NETNS") == "1")
            Assert.True(NamespaceNetwork.Usable, "ELASTICTRAIN_REQUIRE_NETNS=1 but this is not root with iproute2");
        Skip.IfNot(NamespaceNetwork.Usable, "network namespaces need root and iproute2 (`ip`)");
        return new TestNetwork(hosts);
    }

    public string Address(int host) => _network.Address(host);

    public ClusterJob.Host Host(int host) => new(_network.Namespace(host), _network.Address(host));

    /// <summary>Cuts the host off: its link goes down, and what it sends or is sent is lost without a word.</summary>
    public void Cut(int host) => _network.Cut(host);

    public void Heal(int host) => _network.Heal(host);

    public void Dispose() => _network.Dispose();
}
