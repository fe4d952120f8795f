using Akka.Actor;
using Akka.Cluster.Tools.Client;
using Akka.Configuration;
using ElasticTrain.Configuration;

namespace ElasticTrain.Cli.Hosting;

/// <summary>
/// How operator commands, and a node that first asks for its job, reach a running job without
/// becoming members of its cluster: Akka's cluster client, through the receptionist every node
/// runs (<see cref="NodeHost"/> registers its coordinator proxy there), to the coordinator
/// wherever it runs.
/// <para>
/// Why not a member: a member that comes and goes takes part in the cluster's agreement. Joining
/// waits until every member agrees, which a member that died holds up until it is removed; and a
/// member that leaves while another is unreachable cannot finish leaving, so the resolver, seeing
/// it unreachable beside the dead node ("indirectly connected"), downs every node of the job.
/// </para>
/// </summary>
public static class OperatorClient
{
    /// <summary>A node's receptionist must answer within this, or the address is wrong or down.</summary>
    private static readonly TimeSpan ContactPatience = TimeSpan.FromSeconds(10);

    /// <summary>The coordinator may be starting or moving: it is asked again for this long.</summary>
    private static readonly TimeSpan AnswerPatience = TimeSpan.FromSeconds(20);

    public static async Task<T> AskAsync<T>(string endpoint, object question, Config config, CancellationToken cancellation)
    {
        if (!HostPort.TryParse(endpoint, out var host, out var port))
            throw new SettingsException($"--join must be HOST:PORT, not '{endpoint}'");
        var clientConfig = ConfigurationFactory.ParseString("""
            akka.actor.provider = remote
            akka.remote.dot-netty.tcp.port = 0
            elastictrain.log-file = ""
            """).WithFallback(config);
        var system = ActorSystem.Create("elastictrain-operator", clientConfig);
        try
        {
            var protocol = ((ExtendedActorSystem)system).Provider.DefaultAddress.Protocol;
            var receptionist = new RootActorPath(new Address(protocol, NodeHost.SystemName, host, port)) / "system" / "receptionist";
            await Contact(system, receptionist, endpoint, cancellation);
            var client = system.ActorOf(ClusterClient.Props(ClusterClientSettings.Create(system).WithInitialContacts([receptionist])), "client");
            return await AskCoordinator<T>(client, question, endpoint, cancellation);
        }
        finally
        {
            await system.Terminate();
        }
    }

    /// <summary>
    /// Waits until the node's receptionist answers. Akka answers at once, with nobody, when the
    /// address refuses the connection or runs no receptionist (yet: a node may be starting), so
    /// it is asked again until the patience is spent; then one error line.
    /// </summary>
    private static async Task Contact(ActorSystem system, ActorPath receptionist, string endpoint, CancellationToken cancellation)
    {
        var deadline = DateTime.UtcNow + ContactPatience;
        while (true)
        {
            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero)
                throw new ClusterAccess.UnreachableException($"cannot reach the cluster at {endpoint}: no answer within {ContactPatience.TotalSeconds:0} s");
            try
            {
                var identity = await system.ActorSelection(receptionist).Ask<ActorIdentity>(new Identify(null), left, cancellation);
                if (identity.Subject is not null) return;
                await Task.Delay(TimeSpan.FromMilliseconds(500), cancellation);
            }
            catch (AskTimeoutException) { }
        }
    }

    /// <summary>
    /// The coordinator's proxy first has to find the coordinator and buffers until then, so this
    /// asks again on a short timeout rather than once on a long one.
    /// </summary>
    private static async Task<T> AskCoordinator<T>(IActorRef client, object question, string endpoint, CancellationToken cancellation)
    {
        var deadline = DateTime.UtcNow + AnswerPatience;
        var send = new ClusterClient.Send(NodeHost.CoordinatorProxyPath, question, localAffinity: true);
        while (true)
        {
            try
            {
                return await client.Ask<T>(send, TimeSpan.FromSeconds(2), cancellation);
            }
            catch (AskTimeoutException) when (DateTime.UtcNow < deadline) { }
            catch (AskTimeoutException)
            {
                throw new SettingsException($"the cluster at {endpoint} runs no job (no coordinator answered within {AnswerPatience.TotalSeconds:0} s)");
            }
        }
    }
}
