using ElasticTrain.Cli.Hosting;
using ElasticTrain.Configuration;

namespace ElasticTrain.Tests.Support;

/// <summary>A node's settings read from a HOCON snippet over the embedded defaults, as a --config file is merged.</summary>
public static class TestSettings
{
    /// <exception cref="SettingsException">What <see cref="HostSettings.FromConfig"/> refuses.</exception>
    public static HostSettings Read(string hocon = "") =>
        HostSettings.FromConfig(HoconFiles.Parse(hocon, "test").WithFallback(NodeConfig.Defaults()));
}
