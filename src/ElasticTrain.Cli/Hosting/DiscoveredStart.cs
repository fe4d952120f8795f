using Akka.Configuration;
using ElasticTrain.Cli.Reporting;
using ElasticTrain.Configuration;

namespace ElasticTrain.Cli.Hosting;

/// <summary>
/// `elastictrain node --discovery config|kubernetes`: the one command every machine (every pod)
/// runs. It looks up the contact points, joins a node that answers (as `node --join` would), or,
/// when nothing runs and it is the lowest contact point, forms the cluster and starts or resumes
/// the job of its own config (as `train` would). The others wait for it, then join.
/// </summary>
/// <remarks>
/// Why two nodes cannot both start the job. A founder must see no answering node, at least
/// <c>required-contact-points</c>, the same ones in two lookups in a row, and itself lowest
/// (<see cref="SeedChoice"/>): nodes that share a view elect the same founder. Views can differ
/// only while a node is not yet listed; then two may each think themselves lowest. Both go on to
/// the store, which every node of the job reaches: before forming, a founder asks whether the job's
/// coordinator lease is held by a node that answers, and joins that node if so; `train`'s own
/// check then asks again. If both pass within the same moment and form two clusters, the job is
/// still started once: its coordinator runs only while it holds that lease (the singleton's
/// use-lease), and the store's conditional write gives the lease to one coordinator; the other
/// waits for it, and on getting it reads the journal and resumes what the first wrote instead of
/// starting anew. What that rare race can cost is a second cluster whose ranks wait idle and not
/// ready (so a readiness probe shows it); the StatefulSet in deploy/kubernetes avoids it outright by
/// starting its pods one after another, each once the one before is ready.
/// </remarks>
public static class DiscoveredStart
{
    public static async Task<NodeHost.Result> RunAsync(HostSettings settings, DiscoverySettings discovery, Config config,
        IReadOnlyList<IJobReporter> reporters, LiveNode live, CancellationToken cancellation)
    {
        var self = $"{settings.Hostname}:{settings.Port}";
        var store = JournalStore.Resolve(settings.Store, settings.DataDirectory);
        store.Probe();
        var deadline = DateTime.UtcNow + discovery.Timeout;
        IReadOnlyList<string>? previous = null;
        string? said = null;
        await using var contactPoints = ContactPoints.Open(discovery, config);
        try
        {
            while (true)
            {
                SeedChoice choice;
                IReadOnlyList<string>? discovered = null;
                try
                {
                    discovered = await contactPoints.LookupAsync(cancellation);
                    var answering = await AnsweringAsync(discovered.Where(point => point != self));
                    choice = SeedChoice.Decide(self, discovered, previous, answering, discovery.RequiredContactPoints);
                }
                catch (ContactPoints.LookupFailedException e)
                {
                    choice = new SeedChoice.Wait(e.Message);
                }
                previous = discovered;

                switch (choice)
                {
                    case SeedChoice.Join join:
                        Console.WriteLine($"discovery: joining the cluster at {join.Endpoint}");
                        try
                        {
                            return await NodeHost.JoinAsync(settings with { Join = join.Endpoint }, config, reporters, live, cancellation);
                        }
                        catch (ClusterAccess.UnreachableException e) when (DateTime.UtcNow < deadline)
                        {
                            // It answered a moment ago: stopping, or not yet a member. Look again.
                            said = e.Message;
                            Console.WriteLine($"discovery: {e.Message}; looking again");
                        }
                        break;
                    case SeedChoice.Form form:
                        if (await JobPresence.RunningAtAsync(store, settings.Job.Id) is { } running)
                        {
                            Console.WriteLine($"discovery: job {settings.Job.Id} runs at {running} (the store's lease says so): joining it");
                            return await NodeHost.JoinAsync(settings with { Join = running }, config, reporters, live, cancellation);
                        }
                        Console.WriteLine($"discovery: no node answers among {form.ContactPoints} contact point(s) and this one is the lowest: " +
                                          $"forming the cluster and starting job {settings.Job.Id} from this node's config");
                        return await NodeHost.TrainAsync(settings, config, reporters, live, cancellation);
                    case SeedChoice.Wait wait:
                        if (DateTime.UtcNow >= deadline)
                            return new NodeHost.Result(1, $"found no cluster to join and formed none within {discovery.Timeout.TotalSeconds:0} s: {wait.Reason}");
                        if (wait.Reason != said) Console.WriteLine($"discovery: {wait.Reason}");
                        said = wait.Reason;
                        break;
                }
                await Task.Delay(discovery.RetryInterval, cancellation);
            }
        }
        catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
        {
            return new NodeHost.Result(130, "interrupted before this node joined a cluster");
        }
    }

    /// <summary>The contact points that accept a connection now: nodes whose cluster port is open.</summary>
    private static async Task<IReadOnlyList<string>> AnsweringAsync(IEnumerable<string> points)
    {
        var probes = points.Select(async point =>
            HostPort.TryParse(point, out var host, out var port) && await JobPresence.Answers(host, port) ? point : null);
        return [.. (await Task.WhenAll(probes)).OfType<string>()];
    }
}
