using Akka.Actor;
using Akka.Cluster;
using ElasticTrain.Cli.Store;
using ElasticTrain.Coordination;
using ElasticTrain.Jobs;

namespace ElasticTrain.Cli.Hosting;

/// <summary>
/// The HTTP server's handle on the node it serves: the node's current incarnation (a rejoin
/// attaches the next), for the readiness probe and the console's operator commands. It outlives
/// the actor system, as the server does.
/// </summary>
public sealed class LiveNode
{
    private sealed record Node(Cluster Cluster, IActorRef Coordinator, IReadOnlyList<RankId> Ranks, JournalStore Store, string JobId);

    private volatile Node? _node;

    /// <summary>Where the HTTP server serves (<c>http://HOST:PORT</c>); null without one.</summary>
    public string? Address { get; set; }

    /// <summary>The console's link to the browsers, fed by the node's <see cref="WebConsole.ConsoleFeed"/>.</summary>
    public WebConsole.ConsoleHub Hub { get; } = new();

    /// <summary>From now on the node's cluster and coordinator proxy answer.</summary>
    public void Attach(Cluster cluster, IActorRef coordinator, IReadOnlyList<RankId> ranks, JournalStore store, string jobId) =>
        _node = new Node(cluster, coordinator, ranks, store, jobId);

    /// <summary>The actor system is about to stop: not ready, and no commands, until attached again.</summary>
    public void Detach() => _node = null;

    /// <summary>
    /// Ready: an Up member of the job's cluster, and the coordinator has a generation and counts
    /// every rank this node hosts, as a member of that generation or as an idle rank. Idle ranks
    /// count: after a scale-down a new node's ranks stay idle, and a rollout that waited for them
    /// would stall. The answer is the coordinator's own view, asked for at each probe (one message
    /// over the cluster); no answer in time is "not ready", as during a failover or before the
    /// coordinator runs.
    /// </summary>
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

    /// <summary>How long the job's token hash is trusted before the store is read again: a rotation takes effect within it.</summary>
    private static readonly TimeSpan TokenFreshness = TimeSpan.FromSeconds(5);

    private (string JobId, string Hash, DateTime Read)? _token;

    /// <summary>
    /// Whether <paramref name="token"/> is the job's operator token (<see cref="OperatorToken"/>);
    /// null while detached. The stored hash is read at most every few seconds, so that requests
    /// with any bearer at all cannot load the job's store.
    /// </summary>
    public async Task<bool?> AuthorizesAsync(string token)
    {
        if (_node is not { } node) return null;
        if (_token is not { } known || known.JobId != node.JobId || DateTime.UtcNow - known.Read > TokenFreshness)
            _token = known = (node.JobId, await OperatorToken.ReadHashAsync(node.Store, node.JobId), DateTime.UtcNow);
        return OperatorToken.Matches(known.Hash, token);
    }

    /// <summary>An operator's command (scale, drain) to the coordinator, as `elastictrain scale` sends it.</summary>
    public async Task<OperatorReply> CommandAsync(object command, TimeSpan patience)
    {
        if (_node is not { } node) return new OperatorReply(false, "this node is not in the job's cluster right now; try again");
        try { return await node.Coordinator.Ask<OperatorReply>(command, patience); }
        catch (AskTimeoutException) { return new OperatorReply(false, $"the coordinator did not answer within {patience.TotalSeconds:0} s (a failover?); try again"); }
    }
}
