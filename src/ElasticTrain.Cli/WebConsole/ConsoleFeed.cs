using Akka.Actor;
using Akka.Cluster.Tools.PublishSubscribe;
using ElasticTrain.Coordination;
using ElasticTrain.Jobs;

namespace ElasticTrain.Cli.WebConsole;

/// <summary>
/// The console's view of the job on one node. Where the coordinator runs, it relays the
/// coordinator's notices to every node as <see cref="IJobNews"/> (distributed pub-sub); on every
/// node it keeps the <see cref="ConsoleHistory"/> of that news, asks the coordinator for its status
/// every second, and pushes both to the browsers through the <see cref="ConsoleHub"/>. A feed that
/// starts asks the other nodes for their history, so the curve survives the coordinator's node.
/// </summary>
public sealed class ConsoleFeed : ReceiveActor, IWithTimers
{
    private static readonly TimeSpan StatusEvery = TimeSpan.FromSeconds(1);

    /// <summary>
    /// How often to ask the others for their history until one answers with some: pub-sub learns of
    /// the other nodes' subscribers by gossip, seconds after a node joins on a busy machine. A node
    /// alone (the first `train`) stops asking after <see cref="HistoryPatience"/>.
    /// </summary>
    private static readonly TimeSpan HistoryEvery = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan HistoryPatience = TimeSpan.FromSeconds(60);
    private readonly DateTime _startedAt = DateTime.UtcNow;

    private readonly IActorRef _coordinator;
    private readonly ConsoleHub _hub;
    private readonly string _newsTopic;
    private readonly string _historyTopic;
    private readonly IActorRef _mediator;
    private readonly ConsoleHistory _history = new();
    private ConsoleStatus? _status;
    private string _statusJson = "";

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(string jobId, IActorRef coordinator, ConsoleHub hub) =>
        Akka.Actor.Props.Create(() => new ConsoleFeed(jobId, coordinator, hub));

    private sealed record PollStatus
    {
        public static readonly PollStatus Instance = new();
    }

    private sealed record AskHistory
    {
        public static readonly AskHistory Instance = new();
    }

    public ConsoleFeed(string jobId, IActorRef coordinator, ConsoleHub hub)
    {
        _coordinator = coordinator;
        _hub = hub;
        _newsTopic = $"job-{jobId}-news";
        _historyTopic = $"job-{jobId}-history";
        _mediator = DistributedPubSub.Get(Context.System).Mediator;

        // The coordinator's notices, on its own node: relayed to every node, this one included.
        Receive<JobRunning>(r => Relay(new GenerationNews(r.JobId, r.Generation, r.FromStep, r.TotalSteps, r.Mesh, [.. r.Members ?? []], r.ResumedFrom?.Step, [.. r.Idle ?? []], r.Stages, [.. r.Drained ?? []])));
        Receive<StepCommittedNotice>(s => Relay(new StepNews(s.Step, s.Loss, s.World, s.Generation, s.TimeUnixMs, s.StepMs, s.Samples,
            s.MaxComputeMs, s.ExposedMs, s.BytesSent)));
        Receive<EvaluationNotice>(e => Relay(new EvaluationNews(e.Step, e.Loss)));
        Receive<CheckpointNotice>(c => Relay(new CheckpointNews(c.Step, c.Path)));
        Receive<JobFinished>(f => Relay(new JobEndNews($"finished at step {f.Step}", Failed: false)));
        Receive<JobFailed>(f => Relay(new JobEndNews(f.Reason, Failed: true)));

        Receive<IJobNews>(news =>
        {
            if (_history.Apply(news) is not { } shown) return;
            _hub.Push(EventName(shown), shown);
            // A page opened before the job's first news knows no job id or length yet.
            if (news is GenerationNews) _hub.Push("snapshot", new ConsoleHub.Snapshot(_history.ToRecord(), _status));
        });
        Receive<JobHistoryWanted>(_ => { if (!Sender.Equals(Self)) Sender.Tell(_history.ToRecord()); });
        Receive<JobHistory>(history =>
        {
            if (history.Marks.Length > 0) Timers.Cancel("history");
            _history.Merge(history);
            _hub.Push("snapshot", new ConsoleHub.Snapshot(_history.ToRecord(), _status));
        });
        Receive<AskHistory>(_ =>
        {
            if (DateTime.UtcNow - _startedAt > HistoryPatience) Timers.Cancel("history");
            else _mediator.Tell(new Publish(_historyTopic, JobHistoryWanted.Instance));
        });

        Receive<PollStatus>(_ => _coordinator.Ask<JobStatusReport>(GetStatus.Instance, StatusEvery).PipeTo(Self, failure: _ => NoStatus.Instance));
        Receive<JobStatusReport>(report =>
        {
            var status = ConsoleStatus.From(report);
            // A record of arrays compares them by reference: compare what the page would get.
            var json = ConsoleHub.ToJson(status);
            if (json == _statusJson) return;
            (_status, _statusJson) = (status, json);
            _hub.Push("status", status);
        });
        Receive<NoStatus>(_ => { }); // no coordinator this second (a failover): the page keeps the last status
        Receive<ConsoleHub.GetSnapshot>(_ => Sender.Tell(new ConsoleHub.Snapshot(_history.ToRecord(), _status)));
        Receive<SubscribeAck>(_ => { });
    }

    protected override void PreStart()
    {
        foreach (var type in new[] { typeof(JobRunning), typeof(StepCommittedNotice), typeof(EvaluationNotice), typeof(CheckpointNotice), typeof(JobFinished), typeof(JobFailed) })
            Context.System.EventStream.Subscribe(Self, type);
        _mediator.Tell(new Subscribe(_newsTopic, Self));
        _mediator.Tell(new Subscribe(_historyTopic, Self));
        Timers.StartPeriodicTimer("history", AskHistory.Instance, TimeSpan.FromMilliseconds(200), HistoryEvery);
        Timers.StartPeriodicTimer("status", PollStatus.Instance, TimeSpan.Zero, StatusEvery);
        _hub.Attach(Self);
    }

    protected override void PostStop() => _hub.Detach(Self);

    private void Relay(IJobNews news) => _mediator.Tell(new Publish(_newsTopic, news));

    private static string EventName(object shown) => shown switch
    {
        StepNews => "step",
        MarkedGeneration => "generation",
        EvaluationNews => "evaluation",
        CheckpointNews => "checkpoint",
        JobEndNews => "end",
        _ => "news",
    };

    /// <summary>A status ask that got no answer.</summary>
    private sealed record NoStatus
    {
        public static readonly NoStatus Instance = new();
    }
}
