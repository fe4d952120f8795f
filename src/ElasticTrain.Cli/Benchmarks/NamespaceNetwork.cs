using System.Diagnostics;

namespace ElasticTrain.Cli.Benchmarks;

/// <summary>
/// Hosts on one machine, each in a network namespace of its own, joined by veth pairs to one
/// bridge: a real network between processes, unlike loopback. With a rate, every host's link is
/// shaped both ways (a token bucket on each end of its veth pair), like a switch port of that speed.
/// A link can be cut (it goes down: packets vanish, nothing is reset, as with a pulled cable) and
/// healed. Needs root and iproute2; the names and addresses are random, and disposing removes them.
/// </summary>
public sealed class NamespaceNetwork : IDisposable
{
    private readonly string _id = Convert.ToHexString(BitConverter.GetBytes(Random.Shared.Next()))[..4].ToLowerInvariant();
    private readonly int _subnet = Random.Shared.Next(0, 256);
    private readonly int _hosts;

    /// <param name="rate">A <c>tc</c> rate such as <c>1gbit</c> for every link, or null for unshaped links.</param>
    public NamespaceNetwork(int hosts, string? rate = null)
    {
        _hosts = hosts;
        try
        {
            Run("ip", $"link add {Bridge} type bridge");
            Run("ip", $"link set {Bridge} up");
            for (int i = 0; i < hosts; i++)
            {
                Run("ip", $"netns add {Namespace(i)}");
                Run("ip", $"link add {Outside(i)} type veth peer name {Inside(i)}");
                Run("ip", $"link set {Inside(i)} netns {Namespace(i)}");
                Run("ip", $"link set {Outside(i)} master {Bridge}");
                Run("ip", $"link set {Outside(i)} up");
                Run("ip", $"-n {Namespace(i)} addr add {Address(i)}/24 dev {Inside(i)}");
                Run("ip", $"-n {Namespace(i)} link set {Inside(i)} up");
                Run("ip", $"-n {Namespace(i)} link set lo up");
                if (rate is null) continue;
                // A 1 MB bucket lets a 1 Gbit/s link send at full speed between timer ticks; 20 ms of queue.
                Run("tc", $"qdisc add dev {Outside(i)} root tbf rate {rate} burst 1mb latency 20ms");
                Run("tc", $"-n {Namespace(i)} qdisc add dev {Inside(i)} root tbf rate {rate} burst 1mb latency 20ms");
            }
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>Whether this process can make namespaces: root, with <c>ip</c> installed.</summary>
    public static bool Usable => Environment.UserName == "root" && (File.Exists("/usr/sbin/ip") || File.Exists("/sbin/ip"));

    private string Bridge => $"et{_id}br";

    public string Namespace(int host) => $"et{_id}n{host}";

    private string Outside(int host) => $"et{_id}v{host}";

    private string Inside(int host) => $"et{_id}p{host}";

    public string Address(int host) => $"10.213.{_subnet}.{host + 2}";

    /// <summary>Cuts the host off: its link goes down, and what it sends or is sent is lost without a word.</summary>
    public void Cut(int host) => Run("ip", $"link set {Outside(host)} down");

    public void Heal(int host) => Run("ip", $"link set {Outside(host)} up");

    public void Dispose()
    {
        for (int i = 0; i < _hosts; i++) TryRun("ip", $"netns del {Namespace(i)}");
        TryRun("ip", $"link del {Bridge}");
    }

    private static void Run(string tool, string arguments)
    {
        var (code, error) = TryRun(tool, arguments);
        if (code != 0) throw new NetworkSetupException($"{tool} {arguments}: {error}");
    }

    private static (int Code, string Error) TryRun(string tool, string arguments)
    {
        try
        {
            using var process = Process.Start(new ProcessStartInfo(tool, arguments) { RedirectStandardError = true, RedirectStandardOutput = true })!;
            var error = process.StandardError.ReadToEnd();
            process.WaitForExit();
            return (process.ExitCode, error.Trim().Split('\n')[0]);
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return (-1, e.Message);
        }
    }
}

/// <summary>A namespace, link or queue of a <see cref="NamespaceNetwork"/> could not be made; the message names the command.</summary>
public sealed class NetworkSetupException(string message) : Exception(message);
