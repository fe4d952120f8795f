using Akka.Actor;
using Akka.Cluster;
using Akka.Cluster.Tools.Client;
using Akka.Cluster.Tools.Singleton;
using Akka.Configuration;
using Akka.Event;
using Akka.Pattern;
using ElasticTrain.Checkpointing;
using ElasticTrain.Cli.Reporting;
using ElasticTrain.Cli.Store;
using ElasticTrain.Cli.WebConsole;
using ElasticTrain.Collectives.Transport;
using ElasticTrain.ParameterServer;
using ElasticTrain.Ranks.ParameterServer;
using ElasticTrain.Configuration;
using ElasticTrain.Coordination;
using ElasticTrain.Data;
using ElasticTrain.Jobs;
using ElasticTrain.Models;
using ElasticTrain.Ranks;

namespace ElasticTrain.Cli.Hosting;

/// <summary>
/// A cluster node of a job: it hosts rank actors with their data loaders, and a
/// ClusterSingletonManager so the coordinator can run here (on the oldest node, and on a survivor
/// when that node dies). `train` starts the cluster and the job; `node` joins a running one.
/// </summary>
public static class NodeHost
{
    /// <param name="Info">A last line for the user when this node leaves a job it did not coordinate.</param>
    /// <param name="Removed">The cluster removed this node (downed, cut off, or its actor system stopped) while the job ran.</param>
    /// <param name="KnownNodes">HOST:PORT of the other nodes this one last saw: where a removed node may rejoin.</param>
    public sealed record Result(int ExitCode, string? Error, string? Info = null, bool Removed = false, IReadOnlyList<string>? KnownNodes = null);

    /// <summary>How often a removed `node` joins again before it gives up.</summary>
    public const int MaxRejoins = 5;

    /// <summary>The cluster role of nodes that host ranks and may host the coordinator.</summary>
    public const string NodeRole = "node";

    /// <summary>The actor system's name on every node of every job: part of each actor's address.</summary>
    public const string SystemName = "elastictrain";

    /// <summary>The name of each node's <see cref="CoordinatorProxy"/>; operator commands ask it through the receptionist.</summary>
    public const string CoordinatorProxyName = "coordinator-proxy";

    public const string CoordinatorProxyPath = "/user/" + CoordinatorProxyName;

    /// <summary>A proxy to the job's coordinator singleton, wherever it runs now.</summary>
    public static Props CoordinatorProxy(ActorSystem system) =>
        ClusterSingletonProxy.Props("/user/coordinator", ClusterSingletonProxySettings.Create(system).WithRole(NodeRole));

    /// <summary>`elastictrain train`: a node that joins itself and starts (or resumes) the job it was given.</summary>
    public static async Task<Result> TrainAsync(HostSettings settings, Config config, IReadOnlyList<IJobReporter> reporters, LiveNode live,
        CancellationToken cancellation)
    {
        // Everything that can be refused is checked before the actor system exists, so bad input
        // never reaches the journal or the checkpoints.
        var data = JobData.Load(settings.Job.DataPath, settings.Job, settings.DataDirectory, settings.Recipe);
        var store = JournalStore.Resolve(settings.Store, settings.DataDirectory);
        store.Probe();
        await JobPresence.RefuseIfRunningElsewhere(store, settings.Job.Id);
        // A parameter server's shard count is fixed when the job starts here: every node must cut the model alike.
        var recipe = settings.Recipe.ParameterServer is { } ps ? settings.Recipe with { ParameterServer = ps with { Shards = ps.ShardsFor(settings.Ranks) } } : settings.Recipe;
        var job = new JobDescription(settings.Job, settings.Job.IdentityHash(data.Corpus.Fingerprint, recipe), data.Corpus.Fingerprint,
            settings.Mesh, recipe);
        // More shards than the model fills is bad input, refused here; the plan is made once.
        var shardPlan = recipe.ParameterServer is not null ? PlanShards(job) : null;
        return await RunAsync(settings, config, store, settings.Job.Id, reporters, live, cancellation, shardPlan, async (system, cluster) =>
        {
            await cluster.JoinAsync(cluster.SelfAddress, cancellation);
            return (job, data);
        });
    }

    /// <summary>`elastictrain node --join HOST:PORT`: joins a running job's cluster and serves that job.</summary>
    /// <remarks>
    /// A node the cluster removes (downed after a partition, or its actor system stopped) joins
    /// again as a new incarnation, through any node it last saw, up to <see cref="MaxRejoins"/> times.
    /// </remarks>
    public static async Task<Result> JoinAsync(HostSettings settings, Config config, IReadOnlyList<IJobReporter> reporters, LiveNode live,
        CancellationToken cancellation)
    {
        if (settings.Join.Length == 0) throw new SettingsException("node needs --join HOST:PORT of a node of the job");
        var store = JournalStore.Resolve(settings.Store, settings.DataDirectory);
        store.Probe();
        // The job's id scopes the store's leases, which the node's actor system needs from its
        // start: ask for the job first, as an operator command would.
        var job = await OperatorClient.AskAsync<JobDescription>(settings.Join, GetJob.Instance, config, cancellation);
        if (job.SecretCheck.Length > 0 && JobSecret.Check(await JobSecret.ForNodeAsync(settings, store, job.Config.Id, cancellation), job.Config.Id) != job.SecretCheck)
            throw new SettingsException($"this node's data-plane secret is not job {job.Config.Id}'s, so its ranks could not exchange with the job's: " +
                $"its store ({store.Description}) is not the job's, or elastictrain.data-plane-secret differs; give it the job's --store (and secret, if the job has one)");
        IReadOnlyList<string> seeds = [settings.Join];
        for (int attempt = 0; ; attempt++)
        {
            Result result;
            try
            {
                // A rejoin asks briefly and often: the link may be about to heal.
                result = await JoinOnceAsync(settings, config, store, job, seeds, TimeSpan.FromSeconds(attempt == 0 ? 20 : 10), reporters, live, cancellation);
            }
            catch (ClusterAccess.UnreachableException e) when (attempt > 0 && attempt < MaxRejoins)
            {
                // The cluster may still be settling the removal of this node's last incarnation.
                result = new Result(1, e.Message, Removed: true, KnownNodes: seeds);
                await Task.Delay(TimeSpan.FromSeconds(2), cancellation);
            }
            if (!result.Removed || attempt == MaxRejoins) return result;
            Console.WriteLine($"{result.Error}; joining again ({attempt + 1} of {MaxRejoins})");
            seeds = [.. (result.KnownNodes ?? []).Concat(seeds).Distinct()];
        }
    }

    private static Task<Result> JoinOnceAsync(HostSettings settings, Config config, JournalStore store, JobDescription job, IReadOnlyList<string> seeds,
        TimeSpan patience, IReadOnlyList<IJobReporter> reporters, LiveNode live, CancellationToken cancellation) =>
        RunAsync(settings, config, store, job.Config.Id, reporters, live, cancellation, shardPlan: null, async (system, cluster) =>
        {
            var joined = await ClusterAccess.JoinAnyAsync(cluster, seeds, patience);
            var data = JobData.Load(settings.Job.DataPath.Length > 0 ? settings.Job.DataPath : job.Config.DataPath, job.Config, settings.DataDirectory, job.Recipe);
            if (data.Corpus.Fingerprint != job.DataFingerprint)
                throw new SettingsException($"the data at '{data.Corpus.Source}' differs from the job's (fingerprint {data.Corpus.Fingerprint[..12]}, job {job.DataFingerprint[..12]}); pass --data with the job's data");
            Console.WriteLine($"joined job {job.Config.Id} at {joined} with {settings.Ranks} rank(s); they enter at the next step boundary");
            return (job, data);
        });

    /// <param name="shardPlan">A parameter-server job's shard plan when the caller has made it already; null: made here if the job needs one.</param>
    private static async Task<Result> RunAsync(HostSettings settings, Config config, JournalStore store, string jobId, IReadOnlyList<IJobReporter> reporters,
        LiveNode live, CancellationToken cancellation, ShardPlan? shardPlan, Func<ActorSystem, Cluster, Task<(JobDescription Job, JobData Data)>> join)
    {
        // MKL's kernels are chosen before any tensor work; each rank gives its own threads
        // settings.TorchThreads intra-op threads, so the local ranks share the cores.
        Console.WriteLine(TorchRuntime.Configure(settings.MklKernels));
        var logFile = ConfigurationFactory.ParseString($"elastictrain.log-file = {System.Text.Json.JsonSerializer.Serialize(settings.LogFile)}");
        if (live.Address is { } address) await AnnounceConsole(address, store, jobId, settings.HttpToken, cancellation);
        var secret = await JobSecret.ForNodeAsync(settings, store, jobId, cancellation);
        // Refused connections go to Akka's log file; the transport opens before the actor system
        // (a taken port is a settings error), and nothing can be refused before a peer knows the port.
        ILoggingAdapter? log = null;
        using var transport = OpenDataPlane(settings, secret, message => log?.Warning("{0}", message));
        var system = ActorSystem.Create(SystemName, logFile.WithFallback(store.ToConfig(jobId)).WithFallback(config));
        log = Logging.GetLogger(system, "data-plane");
        var cluster = Cluster.Get(system);
        var self = JobMembers.EntryOf(cluster.SelfAddress);
        try
        {
            var up = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            cluster.RegisterOnMemberUp(() => up.TrySetResult());
            var removal = new Removal(cluster);
            var (job, data) = await join(system, cluster);
            try { await up.Task.WaitAsync(TimeSpan.FromSeconds(30), cancellation); }
            catch (TimeoutException) { throw new SettingsException("joined the cluster but was not admitted as a member within 30 s"); }

            system.ActorOf(JournalWarmup.Props(), "journal-warmup");
            var outcome = new TaskCompletionSource<object>(TaskCreationOptions.RunContinuationsAsynchronously);
            system.ActorOf(JobObserver.Props(reporters, outcome), "observer");

            // Parameter-server mode: this node's door to the job's shards, hosting some where it has their role.
            var shards = job.Recipe.ParameterServer is { } ps ? StartShards(system, job, shardPlan ?? PlanShards(job), ps, transport, settings) : null;
            // Every node can host the coordinator: the job's own config travels with the description.
            var coordinatorSetup = new CoordinatorSetup(job.Config, job.IdentityHash, job.DataFingerprint, settings.Ranks,
                new CheckpointStore(settings.CheckpointDirectory), StepTimeout: settings.ExchangeTimeout * 2,
                HoldsLease: () => StoreLease.Held(system, JobPresence.CoordinatorLease(jobId)) is not null, Outage: new StoreOutage(settings.StoreOutageLimit),
                Parallel: job.Mesh, Recipe: job.Recipe, HeldOut: data.Split.HeldOut.Count, Shards: shards,
                EpochOf: data.Schedule.EpochOf, StartRanks: settings.StartRanks, SecretCheck: JobSecret.Check(secret, jobId));
            system.ActorOf(ClusterSingletonManager.Props(SupervisedCoordinator(coordinatorSetup), PoisonPill.Instance,
                ClusterSingletonManagerSettings.Create(system).WithRole(NodeRole)), "coordinator");
            var coordinator = system.ActorOf(CoordinatorProxy(system), CoordinatorProxyName);
            ClusterClientReceptionist.Get(system).RegisterService(coordinator); // operator commands come through here (OperatorClient)

            var node = cluster.SelfAddress;
            // The job's recipe says whether it is a parameter server's (a joining node follows the job,
            // not its own config); a rank keeps an all-reduce ring either way, idle for a worker.
            var ring = settings.Collective == ParameterServerSettings.Collective ? Collectives.Collective.Names[0] : settings.Collective;
            var exchange = new ExchangeSettings(ring, settings.ExchangeTimeout, settings.BucketBytes);
            var ranks = new List<RankId>();
            var rankActors = new List<IActorRef>();
            for (int i = 0; i < settings.Ranks; i++)
            {
                var id = new RankId(new NodeAddress(node.Host!, node.Port!.Value), i);
                ranks.Add(id);
                var loader = system.ActorOf(DataLoader.Props(data.Dataset, data.Schedule, data.Split.HeldOut), $"loader-{i}");
                rankActors.Add(system.ActorOf(Rank.Props(new Rank.Setup(id, i, job.Config, job.IdentityHash, settings.Device,
                    exchange, transport.Open(id.ToString()), coordinator, loader, data.Schedule, settings.RankMemoryBytes, job.Recipe, shards, settings.Slowdown,
                    settings.TorchThreads)), $"rank-{i}"));
            }
            live.Attach(cluster, coordinator, ranks, store, jobId);
            system.ActorOf(ConsoleFeed.Props(jobId, coordinator, live.Hub), "console-feed");

            // The job's end, this node's removal from the cluster, or a store gone for good: never none.
            using var storeWatch = new StoreWatch(store, timeout => JobMembers.AnnounceAsync(store, jobId, self, timeout), settings.StoreOutageLimit, Console.Out);
            var first = await Task.WhenAny(outcome.Task, removal.Removed, storeWatch.Gone).WaitAsync(cancellation);
            if (first == removal.Removed && !outcome.Task.IsCompleted)
                return new Result(1, await removal.Removed, Removed: true, KnownNodes: await JobPresence.WaysBackIn(store, jobId, self, removal.KnownNodes));
            if (first == storeWatch.Gone && !outcome.Task.IsCompleted)
                return new Result(1, await storeWatch.Gone);
            var ended = await outcome.Task;
            // A drained rank's last act, sending its state to the ranks that stay, runs on its compute
            // thread after the order that ends it: leaving now would cut that send off.
            if (ended is JobFinished or JobOver { Finished: true })
                await LetRanksFinish(rankActors, settings.ExchangeTimeout);
            return ended switch
            {
                JobFinished => new Result(0, null),
                JobOver { Finished: true } over => new Result(0, null, over.Reason == "drained"
                    ? $"node drained from job {over.JobId}; leaving"
                    : $"job {over.JobId} finished; leaving"),
                JobFailed { BadInput: true } failed => new Result(2, failed.Reason),
                JobFailed failed => new Result(1, failed.Reason),
                JobOver over => new Result(1, over.Reason),
                _ => new Result(1, "the job ended without a result"),
            };
        }
        catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
        {
            return new Result(130, "interrupted; run the same command to resume from the last checkpoint");
        }
        finally
        {
            live.Detach();
            await CoordinatedShutdown.Get(system).Run(CoordinatedShutdown.ClusterLeavingReason.Instance);
            await JobPresence.Forget(store, jobId, self);
        }
    }

    /// <summary>Waits for each rank's queued work, at most <paramref name="patience"/>: a send to a dead peer gives up by then.</summary>
    private static async Task LetRanksFinish(IEnumerable<IActorRef> ranks, TimeSpan patience)
    {
        try { await Task.WhenAll(ranks.Select(r => r.Ask<QueuedWorkDone>(FinishQueuedWork.Instance, patience))); }
        catch (AskTimeoutException) { } // the members' generation fails on its own timeout and falls back
    }

    /// <summary>
    /// Prints where the console is, with the job's operator token when this node made it: the only
    /// time it is shown, since the store keeps its hash.
    /// </summary>
    private static async Task AnnounceConsole(string address, JournalStore store, string jobId, string givenToken, CancellationToken cancellation)
    {
        var made = await OperatorToken.EnsureAsync(store, jobId, givenToken, cancellation);
        Console.WriteLine(made is null
            ? $"console: {address}/"
            : $"console: {address}/ (operator token {made}: shown once; `elastictrain token --job {jobId}` makes a new one)");
    }

    /// <summary>
    /// The coordinator, started again with backoff (1-10 s) when it stops on a journal failure: a
    /// store outage, or another coordinator that wrote first. Each start reads the journal anew.
    /// It stays stopped once the job is over.
    /// </summary>
    private static Props SupervisedCoordinator(CoordinatorSetup setup) =>
        BackoffSupervisor.Props(Backoff.OnStop(Coordinator.Props(setup), "job", TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(10), 0.2, maxNrOfRetries: -1)
            .WithFinalStopMessage(message => message is CoordinatorEnded));

    /// <summary>The job's shard plan, the same on every node (the job's model, its shard count).</summary>
    /// <exception cref="SettingsException">More shards than the model's parameters fill.</exception>
    private static ShardPlan PlanShards(JobDescription job)
    {
        var shards = job.Recipe.ParameterServer!.Shards!.Value;
        try { return ModelShards.Plan(job.Config, shards); }
        catch (ArgumentException e) { throw new SettingsException($"elastictrain.ps.shards = {shards}: {e.Message}"); }
    }

    /// <summary>Starts the job's shard region on this node: hosting shards where the node has the role, a proxy where not.</summary>
    private static ShardAccess StartShards(ActorSystem system, JobDescription job, ShardPlan plan, ParameterServerSettings ps, TensorTransport transport,
        HostSettings settings)
    {
        var recipe = job.Recipe;
        var setup = new ShardSetup(job.Config.Id, job.IdentityHash, plan, recipe.Optimizer, job.Config.WeightDecay, transport, settings.ExchangeTimeout,
            Seed: () => ModelShards.Seed(job.Config, job.IdentityHash, recipe), Settled: () => AskShardsSettled(system), TorchThreads: settings.TorchThreads);
        return new ShardAccess(ShardHost.Start(system, setup, ps.Role), plan);
    }

    /// <summary>Whether the job's coordinator lets shards move now; no answer (it is starting, or moving to another node) is no.</summary>
    private static async Task<bool> AskShardsSettled(ActorSystem system)
    {
        try { return (await system.ActorSelection(CoordinatorProxyPath).Ask<ShardsSettled>(AreShardsSettled.Instance, TimeSpan.FromSeconds(2))).Settled; }
        catch (AskTimeoutException) { return false; }
    }

    private static TensorTransport OpenDataPlane(HostSettings settings, byte[] secret, Action<string> warn)
    {
        try { return new TensorTransport(settings.Hostname, secret, settings.DataPlanePort, warn); }
        catch (System.Net.Sockets.SocketException e)
        {
            throw new SettingsException($"cannot open the data plane on {settings.Hostname}:{settings.DataPlanePort} (elastictrain.data-plane-port): {e.Message}");
        }
    }
}
