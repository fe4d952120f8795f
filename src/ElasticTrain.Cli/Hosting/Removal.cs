using Akka.Cluster;

namespace ElasticTrain.Cli.Hosting;

/// <summary>
/// Completes with one line for the user when the cluster removes this node: it was downed (the
/// others stopped hearing from it, or the split-brain resolver's lease went to the other side),
/// or its actor system stopped for any other reason. Keeps the other nodes it last saw, where it
/// may join again.
/// </summary>
public sealed class Removal
{
    private readonly TaskCompletionSource<string> _removed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile string[] _known = [];

    public Removal(Cluster cluster)
    {
        var self = cluster.SelfAddress;
        cluster.RegisterOnMemberUp(() => Remember(cluster));
        cluster.RegisterOnMemberRemoved(() =>
        {
            var status = cluster.SelfMember.Status;
            _removed.TrySetResult(status == MemberStatus.Down || status == MemberStatus.Removed
                ? $"this node ({self.Host}:{self.Port}) was removed from the cluster: the other nodes stopped hearing from it, or it lost the store's lease to them"
                : $"this node ({self.Host}:{self.Port}) left the cluster");
        });
        cluster.System.WhenTerminated.ContinueWith(_ =>
            _removed.TrySetResult($"this node's actor system ({self.Host}:{self.Port}) stopped"), TaskScheduler.Default);
        // Membership changes while the job runs; the last view is what a rejoin starts from.
        _ = Task.Run(async () =>
        {
            while (!_removed.Task.IsCompleted)
            {
                Remember(cluster);
                await Task.WhenAny(_removed.Task, Task.Delay(TimeSpan.FromSeconds(2)));
            }
        });
    }

    public Task<string> Removed => _removed.Task;

    /// <summary>HOST:PORT of the other Up members of the last view, nodes that host ranks first.</summary>
    public IReadOnlyList<string> KnownNodes => _known;

    private void Remember(Cluster cluster)
    {
        var members = cluster.State.Members
            .Where(m => m.Status == MemberStatus.Up && m.Address != cluster.SelfAddress && m.HasRole(NodeHost.NodeRole))
            .Select(m => $"{m.Address.Host}:{m.Address.Port}").ToArray();
        if (members.Length > 0) _known = members;
    }
}
