using Akka.Actor;
using Akka.Cluster;
using Akka.Cluster.Tools.Client;
using Akka.Configuration;
using Akka.TestKit.Xunit2;
using ElasticTrain.Cli.Hosting;
using ElasticTrain.Coordination;

namespace ElasticTrain.Tests.Hosting;

/// <summary>
/// An operator command against a real one-node cluster over loopback remoting: it gets the
/// coordinator's answer through the node's receptionist and never becomes a member, so the
/// cluster's membership does not change while it asks (a member that comes and goes can make the
/// resolver down every node when another node dies meanwhile).
/// </summary>
public sealed class OperatorClientTests() : TestKit(Node, NodeHost.SystemName)
{
    private static readonly Config Node = ConfigurationFactory.ParseString("""
        akka.actor.provider = cluster
        akka.remote.dot-netty.tcp { hostname = 127.0.0.1, port = 0 }
        # One node: nothing to resolve, and no store for the resolver's lease.
        akka.cluster.downing-provider-class = ""
        elastictrain.log-file = ""
        """).WithFallback(NodeConfig.Defaults());

    /// <summary>Stands in for the coordinator's proxy: answers whether the shards are settled.</summary>
    private sealed class Coordinator : ReceiveActor
    {
        public Coordinator() => Receive<AreShardsSettled>(_ => Sender.Tell(new ShardsSettled(true)));
    }

    [Fact]
    public async Task A_command_gets_the_coordinators_answer_without_joining_the_cluster()
    {
        var cluster = Cluster.Get(Sys);
        await cluster.JoinAsync(cluster.SelfAddress);
        var proxy = Sys.ActorOf(Props.Create(() => new Coordinator()), NodeHost.CoordinatorProxyName);
        ClusterClientReceptionist.Get(Sys).RegisterService(proxy);
        var joined = new List<Member>();
        var watcher = CreateTestProbe();
        cluster.Subscribe(watcher.Ref, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsEvents, typeof(ClusterEvent.IMemberEvent));

        var answer = await OperatorClient.AskAsync<ShardsSettled>($"127.0.0.1:{cluster.SelfAddress.Port}", AreShardsSettled.Instance,
            NodeConfig.Defaults(), CancellationToken.None);

        Assert.True(answer.Settled);
        await Task.Delay(TimeSpan.FromSeconds(1)); // a member that joined for the question would have been seen by now
        while (watcher.HasMessages) joined.Add(watcher.ExpectMsg<ClusterEvent.IMemberEvent>().Member);
        Assert.All(joined, m => Assert.Equal(cluster.SelfAddress, m.Address));
        Assert.Single(cluster.State.Members);
    }
}
