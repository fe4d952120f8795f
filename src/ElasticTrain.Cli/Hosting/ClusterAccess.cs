using Akka.Actor;
using Akka.Cluster;
using ElasticTrain.Configuration;

namespace ElasticTrain.Cli.Hosting;

/// <summary>
/// How a process that is not the first node reaches a job: join its cluster through one node's
/// address, then ask the coordinator singleton, wherever it runs. Shared by `node` and the
/// operator commands; both turn "nobody answered" into one error line.
/// </summary>
public static class ClusterAccess
{
    /// <summary>Nobody answered at the addresses given: one error line, like any bad input, unless a caller retries.</summary>
    public sealed class UnreachableException(string message) : SettingsException(message);

    public static async Task JoinAsync(Cluster cluster, string endpoint, TimeSpan patience)
    {
        if (!HostPort.TryParse(endpoint, out var host, out var port))
            throw new SettingsException($"--join must be HOST:PORT, not '{endpoint}'");
        try
        {
            await cluster.JoinAsync(new Address(cluster.SelfAddress.Protocol, cluster.System.Name, host, port),
                new CancellationTokenSource(patience).Token);
        }
        catch (Exception e) when (e is OperationCanceledException or TimeoutException or ClusterJoinFailedException)
        {
            throw new UnreachableException($"cannot reach the cluster at {endpoint}: no answer within {patience.TotalSeconds:0} s");
        }
    }

    /// <summary>
    /// Joins through whichever of <paramref name="endpoints"/> answers first (a node that rejoins
    /// tries every node it last saw, since the one it first joined through may be gone); returns
    /// how to name them in messages.
    /// </summary>
    public static async Task<string> JoinAnyAsync(Cluster cluster, IReadOnlyList<string> endpoints, TimeSpan patience)
    {
        if (endpoints.Count == 1) { await JoinAsync(cluster, endpoints[0], patience); return endpoints[0]; }
        var seeds = endpoints.Select(e => HostPort.TryParse(e, out var host, out var port)
            ? new Address(cluster.SelfAddress.Protocol, cluster.System.Name, host, port)
            : throw new SettingsException($"--join must be HOST:PORT, not '{e}'")).ToList();
        var named = string.Join(" or ", endpoints);
        try
        {
            await cluster.JoinSeedNodesAsync(seeds, new CancellationTokenSource(patience).Token);
        }
        catch (Exception e) when (e is OperationCanceledException or TimeoutException or ClusterJoinFailedException)
        {
            throw new UnreachableException($"cannot reach the cluster at {named}: no answer within {patience.TotalSeconds:0} s");
        }
        return named;
    }

    /// <summary>
    /// The proxy first has to find the coordinator and buffers until then, so this asks again on a
    /// short timeout rather than once on a long one.
    /// </summary>
    public static async Task<T> AskCoordinatorAsync<T>(ActorSystem system, object question, string endpoint, TimeSpan patience, CancellationToken cancellation)
    {
        var proxy = system.ActorOf(NodeHost.CoordinatorProxy(system));
        try
        {
            var deadline = DateTime.UtcNow + patience;
            while (true)
            {
                try
                {
                    return await proxy.Ask<T>(question, TimeSpan.FromSeconds(2), cancellation);
                }
                catch (AskTimeoutException) when (DateTime.UtcNow < deadline) { }
                catch (AskTimeoutException)
                {
                    throw new SettingsException($"the cluster at {endpoint} runs no job (no coordinator answered within {patience.TotalSeconds:0} s)");
                }
            }
        }
        finally
        {
            system.Stop(proxy);
        }
    }
}
