using ElasticTrain.Cli.Hosting;
using ElasticTrain.Configuration;

namespace ElasticTrain.Tests.Hosting;

public class ContactPointsTests
{
    private static (DiscoverySettings Settings, Akka.Configuration.Config Config) Read(string hocon)
    {
        var config = HoconFiles.Parse(hocon, "test").WithFallback(NodeConfig.Defaults());
        return (DiscoverySettings.FromConfig(config), config);
    }

    [Fact]
    public async Task Config_discovery_lists_the_services_endpoints_sorted()
    {
        var (settings, config) = Read("""
            elastictrain.discovery { method = config, service-name = job-a }
            akka.discovery.config.services.job-a.endpoints = ["node2:4053", "node1:4053", "node3:4053"]
            akka.discovery.config.services.job-b.endpoints = ["other:4053"]
            """);
        await using var points = ContactPoints.Open(settings, config);
        Assert.Equal(["node1:4053", "node2:4053", "node3:4053"], await points.LookupAsync(CancellationToken.None));
    }

    [Fact]
    public async Task Kubernetes_discovery_outside_kubernetes_is_a_failed_lookup_to_try_again_not_a_crash()
    {
        var (settings, config) = Read("""
            elastictrain.discovery.method = kubernetes
            akka.discovery.kubernetes-api.api-token-path = "/nonexistent/token"
            """);
        Assert.Equal("kubernetes-api", settings.AkkaMethod);
        await using var points = ContactPoints.Open(settings, config);
        var failed = await Assert.ThrowsAsync<ContactPoints.LookupFailedException>(() => points.LookupAsync(CancellationToken.None));
        Assert.StartsWith("looking up 'elastictrain' failed: ", failed.Message);
    }

    [Fact]
    public void Discovery_is_off_by_default_and_refuses_an_unknown_method()
    {
        Assert.False(Read("").Settings.Enabled);
        Assert.Equal("elastictrain.discovery.method must be one of off, config, kubernetes, not 'dns'",
            Assert.Throws<SettingsException>(() => Read("elastictrain.discovery.method = dns")).Message);
    }
}
