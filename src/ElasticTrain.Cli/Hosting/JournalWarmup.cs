using Akka.Actor;
using Akka.Persistence;

namespace ElasticTrain.Cli.Hosting;

/// <summary>
/// Recovers an empty persistence id once when a node starts, then stops. The first recovery in a
/// process connects the store's plugin and prepares its queries, about a second; done here, a
/// coordinator that takes over after a failure does not pay it while the job stands still.
/// </summary>
public sealed class JournalWarmup : UntypedPersistentActor
{
    public static Props Props() => Akka.Actor.Props.Create(() => new JournalWarmup());

    public override string PersistenceId { get; } = "warmup-" + Guid.NewGuid().ToString("N");

    protected override void OnRecover(object message)
    {
        if (message is RecoveryCompleted) Context.Stop(Self);
    }

    protected override void OnCommand(object message) { }

    // A store that cannot be read shows up where it matters, in the coordinator.
    protected override void OnRecoveryFailure(Exception reason, object? message = null) { }
}
