using Akka.Actor;
using Akka.Configuration;
using Akka.Persistence;
using ElasticTrain.Coordination;

namespace ElasticTrain.Cli.Hosting;

/// <summary>
/// Reads a job's journal without running the job: a local actor system (no cluster, no lease)
/// recovers the coordinator's persistence id into the same fold the coordinator keeps,
/// <see cref="JobState"/>, and writes nothing. What `eval` learns the job's latest checkpoint from.
/// About a second: the persistence plugin's start.
/// </summary>
public static class JobJournal
{
    public static async Task<JobState> ReadAsync(JournalStore store, string jobId, Config config, CancellationToken cancellation)
    {
        var local = ConfigurationFactory.ParseString("akka.actor.provider = local\nakka.loglevel = WARNING\nakka.stdout-loglevel = WARNING");
        using var system = ActorSystem.Create("elastictrain-journal", local.WithFallback(store.ToConfig(jobId)).WithFallback(config));
        var read = new TaskCompletionSource<JobState>(TaskCreationOptions.RunContinuationsAsynchronously);
        system.ActorOf(Props.Create(() => new Reader(jobId, read)));
        try
        {
            return await read.Task.WaitAsync(TimeSpan.FromSeconds(60), cancellation);
        }
        finally
        {
            await system.Terminate();
        }
    }

    private sealed class Reader : ReceivePersistentActor
    {
        private JobState _state = JobState.Empty;

        private readonly TaskCompletionSource<JobState> _read;

        public Reader(string jobId, TaskCompletionSource<JobState> read)
        {
            _read = read;
            PersistenceId = "job-" + jobId; // the coordinator's
            Recover<SnapshotOffer>(offer => { if (JobSnapshot.Of(offer.Snapshot) is { } snapshot) _state = snapshot.State; });
            Recover<IJobEvent>(e => _state = _state.Updated(e));
            Recover<RecoveryCompleted>(_ =>
            {
                read.TrySetResult(_state);
                Context.Stop(Self);
            });
        }

        public override string PersistenceId { get; }

        protected override void OnRecoveryFailure(Exception reason, object? message = null) =>
            _read.TrySetException(new Configuration.SettingsException($"cannot read the job's journal: {reason.GetBaseException().Message}"));
    }
}
