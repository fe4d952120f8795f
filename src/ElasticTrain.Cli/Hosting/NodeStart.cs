using Akka.Configuration;
using ElasticTrain.Cli.Reporting;
using ElasticTrain.Configuration;

namespace ElasticTrain.Cli.Hosting;

/// <summary>
/// How `elastictrain node` reaches its job: through the node named by --join, or through
/// discovery (<see cref="DiscoveredStart"/>). `node` and `check-config node` share the checks.
/// </summary>
public static class NodeStart
{
    /// <summary>Throws <see cref="SettingsException"/> unless exactly one way in is given and discovery can name this node.</summary>
    public static DiscoverySettings Check(HostSettings settings, Config config)
    {
        var discovery = DiscoverySettings.FromConfig(config);
        if (settings.Join.Length > 0 && discovery.Enabled)
            throw new SettingsException("--join and --discovery exclude each other: give one");
        if (settings.Join.Length == 0 && !discovery.Enabled)
            throw new SettingsException("node needs --join HOST:PORT of a node of the job, or --discovery config|kubernetes");
        if (discovery.Enabled && settings.Port == 0)
            throw new SettingsException("--discovery needs a fixed --port (akka.remote.dot-netty.tcp.port): the other nodes find this one at it");
        if (discovery.Enabled && settings.Hostname is "0.0.0.0" or "::" or "")
            throw new SettingsException($"--discovery needs --host (akka.remote.dot-netty.tcp.hostname) to be this node's address as the others reach it, not '{settings.Hostname}'");
        return discovery;
    }

    public static Task<NodeHost.Result> RunAsync(HostSettings settings, Config config, IReadOnlyList<IJobReporter> reporters, LiveNode live,
        CancellationToken cancellation)
    {
        var discovery = Check(settings, config);
        return discovery.Enabled
            ? DiscoveredStart.RunAsync(settings, discovery, config, reporters, live, cancellation)
            : NodeHost.JoinAsync(settings, config, reporters, live, cancellation);
    }

    /// <summary>How check-config says what the node would do.</summary>
    public static string Describe(HostSettings settings, DiscoverySettings discovery) => discovery.Enabled
        ? $"node finds its cluster by {discovery.Method} discovery of '{discovery.ServiceName}' (at least {discovery.RequiredContactPoints} contact point(s)), forming it and starting job {settings.Job.Id} if it is the lowest and none runs"
        : $"node joins the cluster at {settings.Join}";
}
