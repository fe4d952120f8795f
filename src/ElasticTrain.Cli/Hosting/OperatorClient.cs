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
        if (!HostPort.TryParse(endpoint, out _, out _))
            throw new SettingsException($"--join must be HOST:PORT, not '{endpoint}'");
        var clientConfig = ConfigurationFactory.ParseString("""
            akka.cluster.roles = [client]
            # A client is a member for a few seconds and never decides who is downed.
            akka.cluster.downing-provider-class = ""
            akka.remote.dot-netty.tcp.port = 0
            elastictrain.log-file = ""
            """).WithFallback(config);
        var system = ActorSystem.Create("elastictrain", clientConfig);
        try
        {
            var cluster = Cluster.Get(system);
            var up = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            cluster.RegisterOnMemberUp(() => up.TrySetResult());
            await ClusterAccess.JoinAsync(cluster, endpoint, TimeSpan.FromSeconds(10));
            try
            {
                await up.Task.WaitAsync(TimeSpan.FromSeconds(10), cancellation);
            }
            catch (TimeoutException)
            {
                throw new SettingsException($"cannot reach the cluster at {endpoint}: no answer within 10 s");
            }
            return await ClusterAccess.AskCoordinatorAsync<T>(system, question, endpoint, TimeSpan.FromSeconds(20), cancellation);
        }
        finally
        {
            await CoordinatedShutdown.Get(system).Run(CoordinatedShutdown.ClusterLeavingReason.Instance);
        }
    }
}
