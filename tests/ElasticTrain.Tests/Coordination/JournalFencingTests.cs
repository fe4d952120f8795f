using Akka.Actor;
using Akka.Configuration;
using Akka.Persistence.Sql;
using Akka.TestKit.Xunit2;
using ElasticTrain.Checkpointing;
using ElasticTrain.Cli.Hosting;
using ElasticTrain.Configuration;
using ElasticTrain.Coordination;
using ElasticTrain.Jobs;
using ElasticTrain.Ranks;
using ElasticTrain.Wire;
using static ElasticTrain.Tests.Support.TestRanks;

namespace ElasticTrain.Tests.Coordination;

/// <summary>
/// At most one coordinator writes the journal. Two guards, each tested alone against a real SQLite
/// journal: a coordinator whose node no longer holds the lease writes nothing; and when two run at
/// once anyway (one paused past its lease, then resumed with a write already under way), the
/// journal's unique (persistence id, sequence number) refuses the late one's event. Either way the
/// loser stops quietly: the job is not ended.
/// </summary>
public sealed class JournalFencingTests : TestKit
{
    private static readonly string Folder = Path.Combine(Path.GetTempPath(), "et-fencing-" + Guid.NewGuid().ToString("N"));
    private static readonly JobConfig Job = new("fenced", "mlp", 1, 1, 8, 8, GlobalBatch: 4, Steps: 100, 1e-3, 0, 1, "", CheckpointEvery: 1000);

    public JournalFencingTests() : base(Journal(), "fencing") { }

    private static Config Journal()
    {
        Directory.CreateDirectory(Folder);
        var store = JournalStore.Resolve(Path.Combine(Folder, $"journal-{Guid.NewGuid():N}.db"), Folder);
        return ConfigurationFactory.ParseString("""
                akka.persistence.journal.plugin = "akka.persistence.journal.sql"
                akka.persistence.snapshot-store.plugin = "akka.persistence.snapshot-store.sql"
                akka.persistence.journal.sql.auto-initialize = on
                akka.persistence.snapshot-store.sql.auto-initialize = on
                """)
            .WithFallback(store.ToConfig(Job.Id))
            .WithFallback(SqlPersistence.DefaultConfiguration)
            .WithFallback(HoconFiles.Reference(typeof(IWireMessage).Assembly));
    }

    private IActorRef Start(Func<bool>? holdsLease = null) =>
        Sys.ActorOf(Coordinator.Props(new CoordinatorSetup(Job, "hash", "data", 1, new CheckpointStore(Path.Combine(Folder, "ckpt")),
            TimeSpan.FromSeconds(30), JoinSettle: TimeSpan.Zero, HoldsLease: holdsLease, Outage: new StoreOutage(TimeSpan.FromSeconds(60)))));

    private static RunStep Ready(IActorRef coordinator, Akka.TestKit.TestProbe rank, long generation, long stateStep)
    {
        var prepare = (PrepareRank)rank.FishForMessage(m => m is PrepareRank p && p.Generation == generation, TimeSpan.FromSeconds(20));
        coordinator.Tell(new RankReady(prepare.Generation, R("n/r0"), stateStep), rank.Ref);
        return (RunStep)rank.FishForMessage(m => m is RunStep, TimeSpan.FromSeconds(20));
    }

    [Fact]
    public void A_coordinator_that_lost_the_journal_race_stops_without_ending_the_job()
    {
        Sys.EventStream.Subscribe(TestActor, typeof(JobFailed));
        Sys.EventStream.Subscribe(TestActor, typeof(StepCommittedNotice));
        var rank = CreateTestProbe();
        var stale = Start();
        stale.Tell(new RegisterRank(R("n/r0"), rank.Ref, -1, "h:1", null, long.MaxValue), rank.Ref);
        var run = Ready(stale, rank, 1, 0);

        // Another coordinator recovers the same journal and writes its own generation meanwhile.
        var successor = Start();
        var other = CreateTestProbe();
        successor.Tell(new RegisterRank(R("n/r0"), other.Ref, 0, "h:1", null, long.MaxValue), other.Ref);
        Ready(successor, other, 2, 0);

        // The stale one's step completes now: its StepCommitted takes a sequence number already used.
        Watch(stale);
        stale.Tell(new StepExchanged(1, run.Plan.Step, R("n/r0"), 8, new int[4], 1, 1, 0), rank.Ref);
        ExpectTerminated(stale, TimeSpan.FromSeconds(20));
        ExpectNoMsg(TimeSpan.FromMilliseconds(500)); // neither a commit nor a failure of the job
        Assert.DoesNotContain(rank.ReceiveWhile(TimeSpan.FromMilliseconds(300), m => m), m => m is JobOver); // nor told its ranks so
    }

    [Fact]
    public void A_coordinator_whose_node_lost_the_lease_writes_nothing_more()
    {
        Sys.EventStream.Subscribe(TestActor, typeof(JobFailed));
        Sys.EventStream.Subscribe(TestActor, typeof(StepCommittedNotice));
        var holds = true;
        var rank = CreateTestProbe();
        var coordinator = Start(() => holds);
        coordinator.Tell(new RegisterRank(R("n/r0"), rank.Ref, -1, "h:1", null, long.MaxValue), rank.Ref);
        var run = Ready(coordinator, rank, 1, 0);

        holds = false; // paused past its lease, say
        Watch(coordinator);
        coordinator.Tell(new StepExchanged(1, run.Plan.Step, R("n/r0"), 8, new int[4], 1, 1, 0), rank.Ref);
        ExpectTerminated(coordinator, TimeSpan.FromSeconds(20));
        ExpectNoMsg(TimeSpan.FromMilliseconds(500));

        // What a successor reads: the step was never committed.
        var successor = Start();
        var next = CreateTestProbe();
        successor.Tell(new RegisterRank(R("n/r0"), next.Ref, -1, "h:1", null, long.MaxValue), next.Ref);
        Assert.Equal(1, Ready(successor, next, 2, 0).Plan.Step);
    }

    protected override void AfterAll()
    {
        base.AfterAll();
        try { Directory.Delete(Folder, recursive: true); } catch (IOException) { }
    }
}
