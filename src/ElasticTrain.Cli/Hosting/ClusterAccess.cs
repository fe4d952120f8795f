using Akka.Actor;
using Akka.Cluster;
using ElasticTrain.Configuration;

namespace ElasticTrain.Cli.Hosting;

/// <summary>
/// How a node that is not the first joins a job's cluster: through one node's address, or any of
/// several; "nobody answered" becomes one error line (operator commands, which never join, reach
/// the job through <see cref="OperatorClient"/>).
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
}
