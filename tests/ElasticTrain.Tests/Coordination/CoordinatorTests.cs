using Akka.Actor;
using Akka.Configuration;
using Akka.TestKit;
using Akka.TestKit.Xunit2;
using ElasticTrain.Checkpointing;
using ElasticTrain.Configuration;
using ElasticTrain.Coordination;
using ElasticTrain.Jobs;
using ElasticTrain.Ranks;
using ElasticTrain.Wire;

namespace ElasticTrain.Tests.Coordination;

public class CoordinatorTests() : TestKit(ConfigurationFactory.ParseString("""
        akka.persistence.journal.plugin = "akka.persistence.journal.inmem"
        akka.persistence.snapshot-store.plugin = "akka.persistence.snapshot-store.inmem"
        """).WithFallback(HoconFiles.Reference(typeof(IWireMessage).Assembly)))
{
    private static readonly JobConfig Job = new("coord", "mlp", 1, 1, 8, 8, GlobalBatch: 4, Steps: 3, 1e-3, 0, 1, "", CheckpointEvery: 2);
    private readonly string _checkpoints = Path.Combine(Path.GetTempPath(), "et-coord-" + Guid.NewGuid().ToString("N"));

    private IActorRef StartCoordinator(int ranks = 2) =>
        Sys.ActorOf(Coordinator.Props(new Coordinator.Setup(Job, "hash", "data", ranks, new CheckpointStore(_checkpoints), TimeSpan.FromSeconds(30))));

    private (TestProbe Probe, string Name)[] Register(IActorRef coordinator, params string[] names)
    {
        var ranks = names.Select(n => (CreateTestProbe(), n)).ToArray();
        foreach (var (probe, name) in ranks) coordinator.Tell(new RegisterRank(name, probe.Ref), probe.Ref);
        return ranks;
    }

    private static PrepareRank ExpectPrepare(TestProbe probe, long generation)
    {
        var prepare = probe.ExpectMsg<PrepareRank>(TimeSpan.FromSeconds(10));
        Assert.Equal(generation, prepare.Generation);
        return prepare;
    }

    private static RunStep ExpectRun(TestProbe probe, long generation, long step)
    {
        var run = probe.ExpectMsg<RunStep>(TimeSpan.FromSeconds(10));
        Assert.Equal((generation, step), (run.Generation, run.Plan.Step));
        return run;
    }

    private static void CompleteStep((TestProbe Probe, string Name)[] ranks, long generation, long step, IActorRef coordinator)
    {
        foreach (var (probe, name) in ranks)
        {
            var run = ExpectRun(probe, generation, step);
            var slice = run.Plan.Slices[run.Plan.PositionOf(name)];
            coordinator.Tell(new StepDone(generation, step, name, LossSum: slice.Count * 2.0, slice.Count, 1, 1), probe.Ref);
        }
    }

    [Fact]
    public void Runs_a_job_to_the_end_committing_each_step_once_and_checkpointing_on_schedule()
    {
        Sys.EventStream.Subscribe(TestActor, typeof(StepCommittedNotice));
        Sys.EventStream.Subscribe(TestActor, typeof(JobFinished));
        var coordinator = StartCoordinator();
        var ranks = Register(coordinator, "n/r1", "n/r0");
        foreach (var (probe, name) in ranks)
        {
            var prepare = ExpectPrepare(probe, 1);
            Assert.Null(prepare.Restore);
            Assert.Equal(["n/r0", "n/r1"], prepare.Members.Select(m => m.Rank));
            coordinator.Tell(new RankReady(1, name), probe.Ref);
        }

        CompleteStep(ranks, 1, 1, coordinator);
        var first = ExpectMsg<StepCommittedNotice>();
        Assert.Equal((1L, 2.0, 2), (first.Step, first.Loss, first.World));

        CompleteStep(ranks, 1, 2, coordinator);
        ExpectMsg<StepCommittedNotice>(s => s.Step == 2);
        // Step 2 is a checkpoint step: the first rank in ring order writes it.
        var r0 = ranks.Single(r => r.Name == "n/r0");
        var write = r0.Probe.ExpectMsg<WriteCheckpoint>();
        Assert.Equal(2, write.Step);
        coordinator.Tell(new CheckpointWritten(1, 2, write.Path, "sha"), r0.Probe.Ref);

        CompleteStep(ranks, 1, 3, coordinator);
        ExpectMsg<StepCommittedNotice>(s => s.Step == 3);
        write = r0.Probe.ExpectMsg<WriteCheckpoint>(); // the last step always checkpoints
        coordinator.Tell(new CheckpointWritten(1, 3, write.Path, "sha3"), r0.Probe.Ref);
        Assert.False(ExpectMsg<JobFinished>().AlreadyFinished);
    }

    [Fact]
    public void A_failed_step_starts_a_new_generation_from_the_last_checkpoint_and_stale_replies_are_ignored()
    {
        Sys.EventStream.Subscribe(TestActor, typeof(StepCommittedNotice));
        Sys.EventStream.Subscribe(TestActor, typeof(StepReplayed));
        var coordinator = StartCoordinator();
        var ranks = Register(coordinator, "n/r0", "n/r1");
        foreach (var (probe, name) in ranks) { ExpectPrepare(probe, 1); coordinator.Tell(new RankReady(1, name), probe.Ref); }
        CompleteStep(ranks, 1, 1, coordinator);
        CompleteStep(ranks, 1, 2, coordinator);
        var write = ranks[0].Probe.ExpectMsg<WriteCheckpoint>();
        coordinator.Tell(new CheckpointWritten(1, 2, write.Path, "sha"), ranks[0].Probe.Ref);
        ExpectMsg<StepCommittedNotice>(s => s.Step == 1);
        ExpectMsg<StepCommittedNotice>(s => s.Step == 2);

        foreach (var (probe, _) in ranks) ExpectRun(probe, 1, 3);
        coordinator.Tell(new StepFailed(1, 3, "n/r1", "exchange timed out"), ranks[1].Probe.Ref);

        foreach (var (probe, name) in ranks)
        {
            var prepare = ExpectPrepare(probe, 2);
            Assert.Equal(new CheckpointRef(2, write.Path, "sha"), prepare.Restore);
        }
        // A late reply of the aborted generation must not count toward step 3.
        coordinator.Tell(new StepDone(1, 3, "n/r0", 4, 2, 1, 1), ranks[0].Probe.Ref);
        foreach (var (probe, name) in ranks) coordinator.Tell(new RankReady(2, name), probe.Ref);
        CompleteStep(ranks, 2, 3, coordinator);
        var committed = ExpectMsg<StepCommittedNotice>();
        Assert.Equal((3L, 2L), (committed.Step, committed.Generation));
    }

    [Fact]
    public void When_a_rank_stops_the_survivors_form_a_new_generation_and_take_its_share()
    {
        var coordinator = StartCoordinator();
        var ranks = Register(coordinator, "n/r0", "n/r1");
        foreach (var (probe, name) in ranks) { ExpectPrepare(probe, 1); coordinator.Tell(new RankReady(1, name), probe.Ref); }
        foreach (var (probe, _) in ranks) ExpectRun(probe, 1, 1);

        Sys.Stop(ranks[1].Probe.Ref);
        var prepare = ExpectPrepare(ranks[0].Probe, 2);
        Assert.Equal(["n/r0"], prepare.Members.Select(m => m.Rank));
        Assert.Null(prepare.Restore); // no checkpoint yet: back to the seed
        coordinator.Tell(new RankReady(2, "n/r0"), ranks[0].Probe.Ref);
        var run = ExpectRun(ranks[0].Probe, 2, 1);
        Assert.Equal([new RankSlice("n/r0", 0, Job.GlobalBatch)], run.Plan.Slices);
    }

    [Fact]
    public void A_job_id_reused_with_another_configuration_is_refused_without_writing()
    {
        Sys.EventStream.Subscribe(TestActor, typeof(JobFailed));
        var first = StartCoordinator(ranks: 1);
        var ranks = Register(first, "n/r0");
        ExpectPrepare(ranks[0].Probe, 1);
        Watch(first);
        Sys.Stop(first);
        ExpectTerminated(first);

        var other = Sys.ActorOf(Coordinator.Props(new Coordinator.Setup(Job with { GlobalBatch = 8 }, "other-hash", "data", 1,
            new CheckpointStore(_checkpoints), TimeSpan.FromSeconds(30))));
        var failed = ExpectMsg<JobFailed>();
        Assert.True(failed.BadInput);
        Assert.Equal("job 'coord' exists with another configuration (global-batch 4 -> 8); use a new --job id", failed.Reason);
    }

    protected override void AfterAll()
    {
        base.AfterAll();
        if (Directory.Exists(_checkpoints)) Directory.Delete(_checkpoints, recursive: true);
    }
}
