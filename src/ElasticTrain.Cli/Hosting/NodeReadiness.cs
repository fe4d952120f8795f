using Akka.Actor;
using Akka.Cluster;
using ElasticTrain.Coordination;
using ElasticTrain.Jobs;

namespace ElasticTrain.Cli.Hosting;

/// <summary>
/// Whether this node is ready, for <c>/health/ready</c>: it is an Up member of the job's cluster,
/// and the coordinator has a generation and counts every rank this node hosts, as a member of that
/// generation or as an idle rank. Idle ranks count: after a scale-down a new node's ranks stay
/// idle, and a rollout that waited for them would stall. The answer is the coordinator's own view,
/// asked for at each probe (one message over the cluster); no answer in time is "not ready", as
/// during a failover or before the coordinator runs.
/// </summary>
public sealed class NodeReadiness
{
    private sealed record Node(Cluster Cluster, IActorRef Coordinator, IReadOnlyList<RankId> Ranks);

    private volatile Node? _node;

    /// <summary>From now on the node's cluster and coordinator proxy answer the probe (a rejoin attaches its new incarnation).</summary>
    public void Attach(Cluster cluster, IActorRef coordinator, IReadOnlyList<RankId> ranks) => _node = new Node(cluster, coordinator, ranks);

    /// <summary>The actor system is about to stop: not ready until attached again.</summary>
    public void Detach() => _node = null;

    public async Task<bool> IsReadyAsync(TimeSpan patience)
    {
        if (_node is not { } node || node.Cluster.SelfMember.Status != MemberStatus.Up) return false;
        try
        {
            var status = await node.Coordinator.Ask<JobStatusReport>(GetStatus.Instance, patience);
            return status.Generation > 0 && node.Ranks.All(r => status.Members.Contains(r) || status.Idle.Contains(r));
        }
        catch (AskTimeoutException)
        {
            return false;
        }
    }
}
