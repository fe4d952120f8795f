using Akka.Actor;
using Akka.Cluster;
using Akka.Configuration;
using ElasticTrain.Configuration;

namespace ElasticTrain.Cli.Hosting;

/// <summary>
/// How operator commands reach a running job: join its cluster for a moment as a "client" member
/// (it hosts no ranks and never the coordinator), ask the coordinator through a singleton proxy,
/// then leave.
/// </summary>
public static class OperatorClient
{
    public static async Task<T> AskAsync<T>(string endpoint, object question, Config config, CancellationToken cancellation)
    {
        if (!HostSettings.TryParseEndpoint(endpoint, out var host, out var port))
            throw new SettingsException($"--join must be HOST:PORT, not '{endpoint}'");
        var clientConfig = ConfigurationFactory.ParseString("""
            akka.cluster.roles = [client]
            akka.remote.dot-netty.tcp.port = 0
            elastictrain.log-file = ""
            """).WithFallback(config);
        var system = ActorSystem.Create("elastictrain", clientConfig);
        try
        {
            var cluster = Cluster.Get(system);
            var up = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            cluster.RegisterOnMemberUp(() => up.TrySetResult());
            try
            {
                await cluster.JoinAsync(new Address(cluster.SelfAddress.Protocol, system.Name, host, port),
                    new CancellationTokenSource(TimeSpan.FromSeconds(10)).Token);
                await up.Task.WaitAsync(TimeSpan.FromSeconds(10), cancellation);
            }
            catch (Exception e) when (e is OperationCanceledException or TimeoutException or ClusterJoinFailedException)
            {
                throw new SettingsException($"cannot reach the cluster at {endpoint}: no answer within 10 s");
            }
            // The proxy first has to find the coordinator; until then it buffers, so ask again on a
            // short timeout rather than once on a long one.
            var proxy = system.ActorOf(NodeHost.CoordinatorProxy(system));
            var deadline = DateTime.UtcNow.AddSeconds(20);
            while (true)
            {
                try
                {
                    return await proxy.Ask<T>(question, TimeSpan.FromSeconds(2), cancellation);
                }
                catch (AskTimeoutException) when (DateTime.UtcNow < deadline) { }
                catch (AskTimeoutException)
                {
                    throw new SettingsException($"the cluster at {endpoint} runs no job (no coordinator answered within 20 s)");
                }
            }
        }
        finally
        {
            await CoordinatedShutdown.Get(system).Run(CoordinatedShutdown.ClusterLeavingReason.Instance);
        }
    }
}
