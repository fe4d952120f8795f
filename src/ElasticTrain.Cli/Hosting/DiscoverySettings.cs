using Akka.Configuration;
using ElasticTrain.Configuration;

namespace ElasticTrain.Cli.Hosting;

/// <summary>How `node` without --join finds its cluster (<c>elastictrain.discovery</c>).</summary>
/// <param name="Method">off, config or kubernetes.</param>
/// <param name="PortName">The Kubernetes container port that is a node's cluster port.</param>
/// <param name="RequiredContactPoints">Contact points (this node included) seen before a node may form the cluster.</param>
public sealed record DiscoverySettings(
    string Method,
    string ServiceName,
    string PortName,
    int RequiredContactPoints,
    TimeSpan RetryInterval,
    TimeSpan Timeout)
{
    public const string Off = "off";
    public const string ConfigMethod = "config";
    public const string KubernetesMethod = "kubernetes";

    public bool Enabled => Method != Off;

    /// <summary>The Akka.Discovery method that does the lookups: its config path under <c>akka.discovery</c>.</summary>
    public string AkkaMethod => Method == KubernetesMethod ? "kubernetes-api" : ConfigMethod;

    public static DiscoverySettings FromConfig(Config config)
    {
        var discovery = new SettingsReader(config, "elastictrain.discovery");
        var settings = new DiscoverySettings(
            Method: discovery.OneOf("method", Off, ConfigMethod, KubernetesMethod),
            ServiceName: discovery.String("service-name"),
            PortName: discovery.String("port-name"),
            RequiredContactPoints: discovery.Int("required-contact-points", 1, 1000),
            RetryInterval: discovery.Duration("retry-interval"),
            Timeout: discovery.Duration("timeout"));
        if (settings.Enabled && settings.ServiceName.Length == 0)
            throw new SettingsException("elastictrain.discovery.service-name must not be empty");
        return settings;
    }
}
