using ElasticTrain.Cli.Store;
using ElasticTrain.Configuration;

namespace ElasticTrain.Cli.Hosting;

/// <summary>
/// A job's presence as its store tells it: whether its coordinator runs somewhere (the holder of
/// the singleton's lease, if that node answers), and which nodes wrote to its member list lately.
/// A node asks before it starts a job and when it leaves or is removed from one.
/// </summary>
public static class JobPresence
{
    /// <summary>
    /// Where a removed node may join again: the other nodes it last saw, and those that wrote to the
    /// store lately (a node that joined after this one's last view, or when that view was only the
    /// node that died). Never this node's own last address.
    /// </summary>
    public static async Task<IReadOnlyList<string>> WaysBackIn(JournalStore store, string jobId, string self, IReadOnlyList<string> lastSeen)
    {
        IReadOnlyList<string> recent;
        try { recent = await JobMembers.RecentAsync(store, jobId, TimeSpan.FromSeconds(2)); }
        catch (Exception) { recent = []; } // the store is down: the last view is all there is
        return [.. lastSeen.Concat(recent).Where(a => a != self).Distinct()];
    }

    /// <summary>Takes this node's entry out of the store's member list, if the store answers at once.</summary>
    public static async Task Forget(JournalStore store, string jobId, string self)
    {
        try { await JobMembers.ForgetAsync(store, jobId, self, TimeSpan.FromSeconds(2)); }
        catch (Exception) { } // it ages out of the list within JobMembers.Recent anyway
    }

    /// <summary>
    /// The coordinator singleton's lease as the store names it: the job's scope, then the name the
    /// singleton manager gives it ("{system}-singleton-{manager's path}").
    /// </summary>
    public static string CoordinatorLease(string jobId) => $"job-{jobId}/elastictrain-singleton-akka://elastictrain/user/coordinator";

    /// <summary>
    /// A second `train` of a job that runs elsewhere would only wait for the job's lease: say where
    /// it runs instead. A holder whose node no longer answers (killed moments ago; its lease is
    /// about to lapse) is no reason to refuse: the job resumes here once the lease is free.
    /// </summary>
    public static async Task RefuseIfRunningElsewhere(JournalStore store, string jobId)
    {
        if (await RunningAtAsync(store, jobId) is { } node)
            throw new SettingsException($"job '{jobId}' is running on {node}; to add this machine to it: elastictrain node --join {node}");
    }

    /// <summary>HOST:PORT of the node whose coordinator holds the job's lease in the store, if that node answers; else null.</summary>
    public static async Task<string?> RunningAtAsync(JournalStore store, string jobId)
    {
        if (await StoreLease.HolderOf(store.Provider, store.ArbiterConnectionString, CoordinatorLease(jobId), TimeSpan.FromSeconds(5)) is not { } owner) return null;
        var node = owner[(owner.IndexOf('@') + 1)..];
        return HostPort.TryParse(node, out var host, out var port) && await Answers(host, port) ? node : null;
    }

    /// <summary>Whether something accepts a TCP connection at HOST:PORT within 2 s.</summary>
    public static async Task<bool> Answers(string host, int port)
    {
        using var client = new System.Net.Sockets.TcpClient();
        try
        {
            await client.ConnectAsync(host, port).WaitAsync(TimeSpan.FromSeconds(2));
            return true;
        }
        catch (Exception e) when (e is System.Net.Sockets.SocketException or TimeoutException)
        {
            return false;
        }
    }
}
