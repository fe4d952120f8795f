using Akka.Actor;
using Akka.Cluster;
using Akka.Cluster.Tools.Singleton;
using Akka.Configuration;
using ElasticTrain.Checkpointing;
using ElasticTrain.Cli.Reporting;
using ElasticTrain.Coordination;
using ElasticTrain.Data;
using ElasticTrain.Ranks;

namespace ElasticTrain.Cli.Hosting;

/// <summary>
/// Runs a training job on this process: a one-node Akka cluster (it joins itself) hosting the
/// coordinator singleton, the rank actors and their data loaders. Returns the process exit code.
/// </summary>
public static class TrainingHost
{
    public sealed record Result(int ExitCode, string? Error);

    public static async Task<Result> RunAsync(HostSettings settings, Config config, IReadOnlyList<IJobReporter> reporters, CancellationToken cancellation)
    {
        // Everything that can be refused is checked before the actor system exists, so bad input
        // never reaches the journal or the checkpoints.
        var corpus = Corpus.Load(settings.Job.DataPath, Path.Combine(settings.DataDirectory, "corpus"));
        var dataset = new WindowDataset(corpus, settings.Job.Block + 1);
        var schedule = new EpochSchedule(settings.Job.Seed, dataset.Count, settings.Job.GlobalBatch);
        var store = JournalStore.Resolve(settings.Store, settings.DataDirectory);
        store.Probe();
        var identity = settings.Job.IdentityHash(corpus.Fingerprint);

        // libtorch's intra-op pool is per process: split the cores between the local ranks so
        // they do not oversubscribe them.
        TorchSharp.torch.set_num_threads(Math.Max(1, Environment.ProcessorCount / settings.Ranks));

        var logFile = ConfigurationFactory.ParseString($"elastictrain.log-file = {System.Text.Json.JsonSerializer.Serialize(settings.LogFile)}");
        var system = ActorSystem.Create("elastictrain", logFile.WithFallback(store.ToConfig()).WithFallback(config));
        try
        {
            var cluster = Cluster.Get(system);
            var up = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            cluster.RegisterOnMemberUp(() => up.TrySetResult());
            await cluster.JoinAsync(cluster.SelfAddress, cancellation);
            await up.Task.WaitAsync(TimeSpan.FromSeconds(30), cancellation);

            var outcome = new TaskCompletionSource<object>(TaskCreationOptions.RunContinuationsAsynchronously);
            system.ActorOf(JobObserver.Props(reporters, outcome), "observer");

            var checkpoints = new CheckpointStore(settings.CheckpointDirectory);
            var coordinatorSetup = new Coordinator.Setup(settings.Job, identity, corpus.Fingerprint, settings.Ranks, checkpoints,
                StepTimeout: settings.ExchangeTimeout * 2);
            system.ActorOf(ClusterSingletonManager.Props(Coordinator.Props(coordinatorSetup), PoisonPill.Instance,
                ClusterSingletonManagerSettings.Create(system)), "coordinator");
            var coordinator = system.ActorOf(ClusterSingletonProxy.Props("/user/coordinator",
                ClusterSingletonProxySettings.Create(system)), "coordinator-proxy");

            var node = cluster.SelfAddress;
            for (int i = 0; i < settings.Ranks; i++)
            {
                var loader = system.ActorOf(DataLoader.Props(dataset, schedule), $"loader-{i}");
                var name = $"{node.Host}:{node.Port}/r{i}";
                system.ActorOf(Rank.Props(new Rank.Setup(name, i, settings.Job, identity, settings.Device,
                    settings.Collective, settings.ExchangeTimeout, coordinator, loader, schedule)), $"rank-{i}");
            }

            var ended = await outcome.Task.WaitAsync(cancellation);
            return ended switch
            {
                JobFinished => new Result(0, null),
                JobFailed { BadInput: true } failed => new Result(2, failed.Reason),
                JobFailed failed => new Result(1, failed.Reason),
                _ => new Result(1, "the job ended without a result"),
            };
        }
        catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
        {
            return new Result(130, "interrupted; run the same command to resume from the last checkpoint");
        }
        finally
        {
            await CoordinatedShutdown.Get(system).Run(CoordinatedShutdown.ActorSystemTerminateReason.Instance);
        }
    }
}
