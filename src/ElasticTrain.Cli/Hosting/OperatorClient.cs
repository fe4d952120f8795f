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
    private static readonly TimeSpan AdmissionPatience = TimeSpan.FromSeconds(30);

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
            // Admission waits for the members to agree, which waits for the removal of any member
            // that left without a goodbye (e.g. the last operator command, stopped mid-leave): the
            // failure detector and the resolver take about 5 s for that, longer on a loaded machine.
            try
            {
                await up.Task.WaitAsync(AdmissionPatience, cancellation);
            }
            catch (TimeoutException)
            {
                throw new SettingsException($"joined the cluster at {endpoint} but was not admitted within {AdmissionPatience.TotalSeconds:0} s");
            }
            return await ClusterAccess.AskCoordinatorAsync<T>(system, question, endpoint, TimeSpan.FromSeconds(20), cancellation);
        }
        finally
        {
            await CoordinatedShutdown.Get(system).Run(CoordinatedShutdown.ClusterLeavingReason.Instance);
        }
    }
}
