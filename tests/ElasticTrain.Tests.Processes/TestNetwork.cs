using System.Diagnostics;

namespace ElasticTrain.Tests.Processes;

/// <summary>
/// Hosts of a test, each in a network namespace of its own, joined by veth pairs to one bridge:
/// a real network between processes on one machine, which a test can cut (the host's link goes
/// down: packets vanish, nothing is reset, as with a pulled cable) and heal. The addresses are the
/// test's own, inside namespaces it made and removes; the store, a SQLite file, stays reachable
/// from every side, as a database server would. Needs root and iproute2: skipped where they are
/// missing, required in CI (ELASTICTRAIN_REQUIRE_NETNS=1).
/// </summary>
public sealed class TestNetwork : IDisposable
{
    private readonly string _id = Convert.ToHexString(BitConverter.GetBytes(Random.Shared.Next()))[..4].ToLowerInvariant();
    private readonly int _subnet = Random.Shared.Next(0, 256);
    private readonly int _hosts;

    private TestNetwork(int hosts)
    {
        _hosts = hosts;
        try
        {
            Ip($"link add {Bridge} type bridge");
            Ip($"link set {Bridge} up");
            for (int i = 0; i < hosts; i++)
            {
                Ip($"netns add {Namespace(i)}");
                Ip($"link add {Outside(i)} type veth peer name {Inside(i)}");
                Ip($"link set {Inside(i)} netns {Namespace(i)}");
                Ip($"link set {Outside(i)} master {Bridge}");
                Ip($"link set {Outside(i)} up");
                Ip($"-n {Namespace(i)} addr add {Address(i)}/24 dev {Inside(i)}");
                Ip($"-n {Namespace(i)} link set {Inside(i)} up");
                Ip($"-n {Namespace(i)} link set lo up");
            }
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public static TestNetwork Create(int hosts)
    {
        var usable = Environment.UserName == "root" && (File.Exists("/usr/sbin/ip") || File.Exists("/sbin/ip"));
        if (Environment.GetEnvironmentVariable("ELASTICTRAIN_REQUIRE_NETNS") == "1")
            Assert.True(usable, "ELASTICTRAIN_REQUIRE_NETNS=1 but this is not root with iproute2");
        Skip.IfNot(usable, "network namespaces need root and iproute2 (`ip`)");
        return new TestNetwork(hosts);
    }

    private string Bridge => $"et{_id}br";

    public string Namespace(int host) => $"et{_id}n{host}";

    private string Outside(int host) => $"et{_id}v{host}";

    private string Inside(int host) => $"et{_id}p{host}";

    public string Address(int host) => $"10.213.{_subnet}.{host + 2}";

    public ClusterJob.Host Host(int host) => new(Namespace(host), Address(host));

    /// <summary>Cuts the host off: its link goes down, and what it sends or is sent is lost without a word.</summary>
    public void Cut(int host) => Ip($"link set {Outside(host)} down");

    public void Heal(int host) => Ip($"link set {Outside(host)} up");

    public void Dispose()
    {
        for (int i = 0; i < _hosts; i++) TryIp($"netns del {Namespace(i)}");
        TryIp($"link del {Bridge}");
    }

    private static void Ip(string arguments)
    {
        var (code, error) = Run(arguments);
        if (code != 0) throw new InvalidOperationException($"ip {arguments}: {error}");
    }

    private static void TryIp(string arguments) => Run(arguments);

    private static (int Code, string Error) Run(string arguments)
    {
        using var process = Process.Start(new ProcessStartInfo("ip", arguments) { RedirectStandardError = true, RedirectStandardOutput = true })!;
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, error.Trim());
    }
}
