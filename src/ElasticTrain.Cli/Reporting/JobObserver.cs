using Akka.Actor;
using ElasticTrain.Coordination;
using ElasticTrain.Ranks;

namespace ElasticTrain.Cli.Reporting;

/// <summary>
/// Listens to the coordinator's notices on this node's event stream, hands them to the reporters,
/// and completes <see cref="Outcome"/> when the job ends one way or the other.
/// </summary>
public sealed class JobObserver : ReceiveActor
{
    public static Props Props(IReadOnlyList<IJobReporter> reporters, TaskCompletionSource<object> outcome) =>
        Akka.Actor.Props.Create(() => new JobObserver(reporters, outcome));

    public JobObserver(IReadOnlyList<IJobReporter> reporters, TaskCompletionSource<object> outcome)
    {
        Receive<JobWaiting>(w => Each(reporters, x => x.Waiting(w)));
        Receive<JobRunning>(r => Each(reporters, x => x.Running(r)));
        Receive<StepCommittedNotice>(s => Each(reporters, x => x.Committed(s)));
        Receive<StepSamples>(s => Each(reporters, x => x.Sampled(s)));
        Receive<StepReplayed>(s => Each(reporters, x => x.Replayed(s)));
        Receive<CheckpointNotice>(c => Each(reporters, x => x.Checkpointed(c)));
        Receive<EvaluationNotice>(e => Each(reporters, x => x.Evaluated(e)));
        // The first outcome is the one reported: a coordinator started again while the node shuts down only repeats it.
        Receive<JobFinished>(f => { if (!outcome.Task.IsCompleted) Each(reporters, x => x.Finished(f)); outcome.TrySetResult(f); });
        Receive<JobFailed>(f => { if (!outcome.Task.IsCompleted) Each(reporters, x => x.Failed(f)); outcome.TrySetResult(f); });
        // On a node without the coordinator, the end of the job arrives through its ranks.
        Receive<JobOver>(over => outcome.TrySetResult(over));
    }

    protected override void PreStart()
    {
        foreach (var type in new[] { typeof(JobWaiting), typeof(JobRunning), typeof(StepCommittedNotice), typeof(StepSamples), typeof(StepReplayed), typeof(CheckpointNotice), typeof(EvaluationNotice), typeof(JobFinished), typeof(JobFailed), typeof(JobOver) })
            Context.System.EventStream.Subscribe(Self, type);
    }

    private static void Each(IReadOnlyList<IJobReporter> reporters, Action<IJobReporter> action)
    {
        foreach (var reporter in reporters) action(reporter);
    }
}
