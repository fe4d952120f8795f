using Akka.Actor;
using Akka.Configuration;
using Akka.Discovery;

namespace ElasticTrain.Cli.Hosting;

/// <summary>
/// Looks up the HOST:PORT of the nodes that may form a job's cluster through Akka.Discovery: its
/// config method (<c>akka.discovery.config.services.&lt;service-name&gt;.endpoints</c>) or the
/// Kubernetes API (Akka.Discovery.KubernetesApi: running pods labelled by the service name, and the
/// container port named <c>elastictrain.discovery.port-name</c>). Lookups run in a small local actor
/// system of their own, apart from the node's, which does not exist yet while it looks.
/// </summary>
public sealed class ContactPoints : IAsyncDisposable
{
    /// <summary>A lookup that failed (the Kubernetes API refused or did not answer): worth trying again.</summary>
    public sealed class LookupFailedException(string message, Exception inner) : Exception(message, inner);

    private static readonly TimeSpan ResolveTimeout = TimeSpan.FromSeconds(10);

    private readonly ActorSystem _system;
    private readonly ServiceDiscovery _discovery;
    private readonly Lookup _lookup;

    private ContactPoints(ActorSystem system, ServiceDiscovery discovery, Lookup lookup) =>
        (_system, _discovery, _lookup) = (system, discovery, lookup);

    public static ContactPoints Open(DiscoverySettings settings, Config config)
    {
        var local = ConfigurationFactory.ParseString("""
            akka.actor.provider = local
            elastictrain.log-file = ""
            """).WithFallback(config);
        var system = ActorSystem.Create("elastictrain-discovery", local);
        // The Kubernetes method's defaults (its `class` among them) are loaded by its extension,
        // which Akka.Discovery does not start by itself.
        if (settings.Method == DiscoverySettings.KubernetesMethod) Akka.Discovery.KubernetesApi.KubernetesDiscovery.Get(system);
        var discovery = Discovery.Get(system).LoadServiceDiscovery(settings.AkkaMethod);
        // The config method lists HOST:PORT as given; the Kubernetes API gives pod IPs and the port
        // of the named container port.
        var lookup = settings.Method == DiscoverySettings.KubernetesMethod
            ? new Lookup(settings.ServiceName, settings.PortName, "tcp")
            : new Lookup(settings.ServiceName);
        return new ContactPoints(system, discovery, lookup);
    }

    /// <summary>The contact points found, as HOST:PORT, sorted; those without a port are left out.</summary>
    public async Task<IReadOnlyList<string>> LookupAsync(CancellationToken cancellation)
    {
        ServiceDiscovery.Resolved resolved;
        try
        {
            resolved = await _discovery.Lookup(_lookup, ResolveTimeout).WaitAsync(cancellation);
        }
        // The Kubernetes method times out by cancelling its own token: a lookup to retry, unlike ours.
        catch (Exception e) when (!cancellation.IsCancellationRequested)
        {
            throw new LookupFailedException($"looking up '{_lookup.ServiceName}' failed: {ElasticTrain.Configuration.HoconFiles.FirstLine(e.GetBaseException().Message)}", e);
        }
        return [.. resolved.Addresses.Where(a => a.Port is not null).Select(a => $"{a.Host}:{a.Port}").Distinct().Order(StringComparer.Ordinal)];
    }

    public async ValueTask DisposeAsync() => await _system.Terminate();
}
