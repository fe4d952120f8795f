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
using static ElasticTrain.Tests.Support.TestRanks;

namespace ElasticTrain.Tests.Coordination;

public class CoordinatorTests() : TestKit(ConfigurationFactory.ParseString("""
        akka.persistence.journal.plugin = "akka.persistence.journal.inmem"
        akka.persistence.snapshot-store.plugin = "akka.persistence.snapshot-store.inmem"
        """).WithFallback(HoconFiles.Reference(typeof(IWireMessage).Assembly)))
{
    /// <summary>A whole replica's checkpoint as its writer reports it.</summary>
    private static CheckpointWritten Written(long generation, long step, string path, string sha) =>
        new(generation, step, path, sha, new ElasticTrain.Checkpointing.CheckpointMetadata("job", step, "hash", step, 0, 1, 1, 0), ["w"]);

    private static readonly JobConfig Job = new("coord", "mlp", 1, 1, 8, 8, GlobalBatch: 4, Steps: 3, 1e-3, 0, 1, "", CheckpointEvery: 2);
    private readonly string _checkpoints = Path.Combine(Path.GetTempPath(), "et-coord-" + Guid.NewGuid().ToString("N"));

    private IActorRef StartCoordinator(int ranks = 2, TimeSpan? joinSettle = null, JobConfig? job = null) =>
        Sys.ActorOf(Coordinator.Props(new CoordinatorSetup(job ?? Job, "hash", "data", ranks, new CheckpointStore(_checkpoints),
            TimeSpan.FromSeconds(30), JoinSettle: joinSettle ?? TimeSpan.Zero)));

    private (TestProbe Probe, RankId Name)[] Register(IActorRef coordinator, params RankId[] names)
    {
        var ranks = names.Select(n => (CreateTestProbe(), n)).ToArray();
        foreach (var (probe, name) in ranks) coordinator.Tell(new RegisterRank(name, probe.Ref, -1, "127.0.0.1:1", null, long.MaxValue), probe.Ref);
        return ranks;
    }

    private static PrepareRank ExpectPrepare(TestProbe probe, long generation)
    {
        var prepare = (PrepareRank)probe.FishForMessage(m => m is PrepareRank, TimeSpan.FromSeconds(10));
        Assert.Equal(generation, prepare.Generation);
        return prepare;
    }

    /// <summary>The next RunStep, past the ApplyStep of the step before it.</summary>
    private static RunStep ExpectRun(TestProbe probe, long generation, long step)
    {
        var run = (RunStep)probe.FishForMessage(m => m is RunStep, TimeSpan.FromSeconds(10));
        Assert.Equal((generation, step), (run.Generation, run.Plan.Step));
        return run;
    }

    private static void CompleteStep((TestProbe Probe, RankId Name)[] ranks, long generation, long step, IActorRef coordinator)
    {
        foreach (var (probe, name) in ranks)
        {
            var run = ExpectRun(probe, generation, step);
            var slice = run.Plan.Slices[run.Plan.PositionOf(name)];
            coordinator.Tell(new StepExchanged(generation, step, name, LossSum: slice.Count * 2.0, new int[slice.Count], 1, 1, 0), probe.Ref);
        }
    }

    [Fact]
    public void A_new_jobs_first_generation_waits_for_its_start_ranks_over_all_nodes()
    {
        // The coordinator's node has one rank; the job asks for three before its first step.
        var coordinator = Sys.ActorOf(Coordinator.Props(new CoordinatorSetup(Job, "hash", "data", 1, new CheckpointStore(_checkpoints),
            TimeSpan.FromSeconds(30), JoinSettle: TimeSpan.Zero, StartRanks: 3)));
        var early = Register(coordinator, R("n/r0"), R("m/r0"));
        foreach (var (probe, _) in early) probe.ExpectNoMsg(TimeSpan.FromMilliseconds(300));
        var last = Register(coordinator, R("o/r0"));
        foreach (var (probe, _) in early.Concat(last))
            Assert.Equal(3, ExpectPrepare(probe, 1).Members.Count);
    }

    [Fact]
    public void Runs_a_job_to_the_end_committing_each_step_once_and_checkpointing_on_schedule()
    {
        Sys.EventStream.Subscribe(TestActor, typeof(StepCommittedNotice));
        Sys.EventStream.Subscribe(TestActor, typeof(JobFinished));
        var coordinator = StartCoordinator();
        var ranks = Register(coordinator, R("n/r1"), R("n/r0"));
        foreach (var (probe, name) in ranks)
        {
            var prepare = ExpectPrepare(probe, 1);
            Assert.IsType<InitFromSeed>(Assert.Single(prepare.Sources).Origin);
            Assert.Equal([R("n/r0"), R("n/r1")], prepare.Members.Select(m => m.Rank));
            coordinator.Tell(new RankReady(1, name, 0), probe.Ref);
        }

        CompleteStep(ranks, 1, 1, coordinator);
        var first = ExpectMsg<StepCommittedNotice>();
        Assert.Equal((1L, 2.0, 2), (first.Step, first.Loss, first.World));

        CompleteStep(ranks, 1, 2, coordinator);
        ExpectMsg<StepCommittedNotice>(s => s.Step == 2);
        // Step 2 is a checkpoint step: the first rank in ring order writes it.
        var r0 = ranks.Single(r => r.Name == R("n/r0"));
        var write = (WriteCheckpoint)r0.Probe.FishForMessage(m => m is WriteCheckpoint);
        Assert.Equal(2, write.Step);
        coordinator.Tell(Written(1, 2, write.Path, "sha"), r0.Probe.Ref);

        CompleteStep(ranks, 1, 3, coordinator);
        ExpectMsg<StepCommittedNotice>(s => s.Step == 3);
        write = (WriteCheckpoint)r0.Probe.FishForMessage(m => m is WriteCheckpoint); // the last step always checkpoints
        coordinator.Tell(Written(1, 3, write.Path, "sha3"), r0.Probe.Ref);
        Assert.False(ExpectMsg<JobFinished>().AlreadyFinished);
    }

    [Fact]
    public void A_failed_step_starts_a_new_generation_that_keeps_the_committed_state_and_ignores_stale_replies()
    {
        Sys.EventStream.Subscribe(TestActor, typeof(StepCommittedNotice));
        Sys.EventStream.Subscribe(TestActor, typeof(StepReplayed));
        var coordinator = StartCoordinator();
        var ranks = Register(coordinator, R("n/r0"), R("n/r1"));
        foreach (var (probe, name) in ranks) { ExpectPrepare(probe, 1); coordinator.Tell(new RankReady(1, name, 0), probe.Ref); }
        CompleteStep(ranks, 1, 1, coordinator);
        CompleteStep(ranks, 1, 2, coordinator);
        var write = (WriteCheckpoint)ranks[0].Probe.FishForMessage(m => m is WriteCheckpoint);
        coordinator.Tell(Written(1, 2, write.Path, "sha"), ranks[0].Probe.Ref);
        ExpectMsg<StepCommittedNotice>(s => s.Step == 1);
        ExpectMsg<StepCommittedNotice>(s => s.Step == 2);

        foreach (var (probe, _) in ranks) ExpectRun(probe, 1, 3);
        coordinator.Tell(new StepFailed(1, 3, R("n/r1"), "exchange timed out"), ranks[1].Probe.Ref);
        // The coordinator asks whether the members live; both answer, so both stay.
        foreach (var (probe, name) in ranks)
        {
            probe.FishForMessage(m => m is GetRankStatus, TimeSpan.FromSeconds(10));
            coordinator.Tell(new RankStatus(name, 1, 0), probe.Ref);
        }

        foreach (var (probe, name) in ranks)
        {
            // Both applied step 2 and never step 3: they keep their state and redo step 3 only.
            var prepare = ExpectPrepare(probe, 2);
            Assert.IsType<KeepState>(Assert.Single(prepare.Sources).Origin);
            Assert.Equal(2, prepare.StateStep);
        }
        // A late reply of the aborted generation must not count toward step 3.
        coordinator.Tell(new StepExchanged(1, 3, R("n/r0"), 4, new int[2], 1, 1, 0), ranks[0].Probe.Ref);
        foreach (var (probe, name) in ranks) coordinator.Tell(new RankReady(2, name, 2), probe.Ref);
        CompleteStep(ranks, 2, 3, coordinator);
        var committed = ExpectMsg<StepCommittedNotice>();
        Assert.Equal((3L, 2L), (committed.Step, committed.Generation));
    }

    [Fact]
    public void A_rank_that_fails_behind_the_committed_step_takes_its_state_from_a_peer_in_the_next_generation()
    {
        Sys.EventStream.Subscribe(TestActor, typeof(StepCommittedNotice));
        var coordinator = StartCoordinator();
        var ranks = Register(coordinator, R("n/r0"), R("n/r1"));
        foreach (var (probe, name) in ranks) { ExpectPrepare(probe, 1); coordinator.Tell(new RankReady(1, name, 0), probe.Ref); }
        CompleteStep(ranks, 1, 1, coordinator);
        ExpectMsg<StepCommittedNotice>(s => s.Step == 1);

        // Step 1 is committed, but n/r1 never applied it (its state is still at step 0), and it says so as it fails step 2.
        foreach (var (probe, _) in ranks) ExpectRun(probe, 1, 2);
        coordinator.Tell(new StepFailed(1, 2, R("n/r1"), "asked for layers [0,2) at step 1; holds [0,2) at step 0", StateStep: 0), ranks[1].Probe.Ref);
        foreach (var (probe, name) in ranks)
        {
            probe.FishForMessage(m => m is GetRankStatus, TimeSpan.FromSeconds(10));
            coordinator.Tell(new RankStatus(name, 1, 0), probe.Ref);
        }

        var (keeper, behind) = (ExpectPrepare(ranks[0].Probe, 2), ExpectPrepare(ranks[1].Probe, 2));
        Assert.Equal((1L, 1L), (keeper.StateStep, behind.StateStep));
        Assert.IsType<KeepState>(Assert.Single(keeper.Sources).Origin);
        Assert.Equal(new CopyFromPeer(R("n/r0")), Assert.Single(behind.Sources).Origin);
    }

    [Fact]
    public void When_a_rank_stops_the_survivors_form_a_new_generation_and_take_its_share()
    {
        var coordinator = StartCoordinator();
        var ranks = Register(coordinator, R("n/r0"), R("n/r1"));
        foreach (var (probe, name) in ranks) { ExpectPrepare(probe, 1); coordinator.Tell(new RankReady(1, name, 0), probe.Ref); }
        foreach (var (probe, _) in ranks) ExpectRun(probe, 1, 1);

        Sys.Stop(ranks[1].Probe.Ref);
        var prepare = ExpectPrepare(ranks[0].Probe, 2);
        Assert.Equal([R("n/r0")], prepare.Members.Select(m => m.Rank));
        Assert.IsType<InitFromSeed>(Assert.Single(prepare.Sources).Origin); // nothing committed yet: back to the seed
        coordinator.Tell(new RankReady(2, R("n/r0"), 0), ranks[0].Probe.Ref);
        var run = ExpectRun(ranks[0].Probe, 2, 1);
        Assert.Equal([new RankSlice(R("n/r0"), 0, Job.GlobalBatch)], run.Plan.Slices);
    }

    [Fact]
    public void A_member_that_stays_silent_after_a_failed_step_is_left_out_at_once_and_readmitted_when_cleared()
    {
        var coordinator = Sys.ActorOf(Coordinator.Props(new CoordinatorSetup(Job with { Steps = 100, CheckpointEvery = 1000 }, "hash", "data", 2,
            new CheckpointStore(_checkpoints), TimeSpan.FromSeconds(30), MaxAttempts: 1, JoinSettle: TimeSpan.Zero,
            LivenessTimeout: TimeSpan.FromMilliseconds(300), SuspicionTimeout: TimeSpan.FromSeconds(2))));
        var ranks = Register(coordinator, R("n/r0"), R("m/r0"));
        foreach (var (probe, name) in ranks) { ExpectPrepare(probe, 1); coordinator.Tell(new RankReady(1, name, 0), probe.Ref); }
        CompleteStep(ranks, 1, 1, coordinator);
        foreach (var (probe, _) in ranks) ExpectRun(probe, 1, 2);

        // n/r0's link to m/r0 reset: m/r0's process died. m/r0 does not answer; n/r0 does.
        var (live, dead) = (ranks.Single(r => r.Name == R("n/r0")), ranks.Single(r => r.Name == R("m/r0")));
        var clock = System.Diagnostics.Stopwatch.StartNew();
        coordinator.Tell(new StepFailed(1, 2, live.Name, "connection reset by m:1/r0"), live.Probe.Ref);
        live.Probe.FishForMessage(m => m is GetRankStatus);
        coordinator.Tell(new RankStatus(live.Name, 1, 0), live.Probe.Ref);
        var prepare = ExpectPrepare(live.Probe, 2);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(2), $"the next generation took {clock.Elapsed}");
        Assert.Equal([live.Name], prepare.Members.Select(m => m.Rank));
        Assert.IsType<KeepState>(Assert.Single(prepare.Sources).Origin);

        // With MaxAttempts 1, a counted failure would have ended the job: a suspect's does not count.
        coordinator.Tell(new RankReady(2, live.Name, 1), live.Probe.Ref);
        // It was alive after all (still registered when the suspicion expires): back at a step boundary.
        var readmission = System.Diagnostics.Stopwatch.StartNew();
        while (live.Probe.FishForMessage(m => m is RunStep or PrepareRank, TimeSpan.FromSeconds(10)) is RunStep run)
        {
            Assert.True(readmission.Elapsed < TimeSpan.FromSeconds(20), "the suspect was never readmitted");
            Thread.Sleep(50);
            coordinator.Tell(new StepExchanged(2, run.Plan.Step, live.Name, 8, new int[4], 1, 1, 0), live.Probe.Ref);
        }
        Assert.True(readmission.Elapsed >= TimeSpan.FromSeconds(1.5), "readmitted before the suspicion expired");
        var back = (PrepareRank)dead.Probe.FishForMessage(m => m is PrepareRank, TimeSpan.FromSeconds(10));
        Assert.Equal([R("m/r0"), R("n/r0")], back.Members.Select(m => m.Rank));
    }

    /// <summary>
    /// Runs <paramref name="job"/> on m/r0 and n/r0 through step 2, a checkpoint step, whose writer
    /// (m/r0, first in ring order) dies while writing it: no exchange runs meanwhile, so no broken
    /// link reports it. Returns once the coordinator has probed both and the survivor has answered,
    /// with the time since the write was asked.
    /// </summary>
    private (IActorRef Coordinator, (TestProbe Probe, RankId Name) Survivor, System.Diagnostics.Stopwatch SinceWrite) KillTheWriterOfStep2(JobConfig job)
    {
        var coordinator = Sys.ActorOf(Coordinator.Props(new CoordinatorSetup(job, "hash", "data", 2,
            new CheckpointStore(_checkpoints), TimeSpan.FromSeconds(30), JoinSettle: TimeSpan.Zero,
            LivenessTimeout: TimeSpan.FromMilliseconds(500), SuspicionTimeout: TimeSpan.FromSeconds(30))));
        var ranks = Register(coordinator, R("m/r0"), R("n/r0"));
        foreach (var (probe, name) in ranks) { ExpectPrepare(probe, 1); coordinator.Tell(new RankReady(1, name, 0), probe.Ref); }
        CompleteStep(ranks, 1, 1, coordinator);
        CompleteStep(ranks, 1, 2, coordinator);
        var (writer, survivor) = (ranks.Single(r => r.Name == R("m/r0")), ranks.Single(r => r.Name == R("n/r0")));
        writer.Probe.FishForMessage(m => m is WriteCheckpoint);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        writer.Probe.FishForMessage(m => m is GetRankStatus, TimeSpan.FromSeconds(5)); // probed, never answers
        survivor.Probe.FishForMessage(m => m is GetRankStatus, TimeSpan.FromSeconds(5)); // the liveness check after the abort
        coordinator.Tell(new RankStatus(survivor.Name, 1, 0), survivor.Probe.Ref);
        return (coordinator, survivor, clock);
    }

    [Fact]
    public void A_checkpoint_writer_that_stops_answering_is_left_out_at_once_and_the_survivors_keep_the_committed_step()
    {
        var (coordinator, survivor, clock) = KillTheWriterOfStep2(Job with { Steps = 100, CheckpointEvery = 2 });

        var prepare = ExpectPrepare(survivor.Probe, 2);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"the next generation took {clock.Elapsed}");
        Assert.Equal([survivor.Name], prepare.Members.Select(m => m.Rank));
        Assert.IsType<KeepState>(Assert.Single(prepare.Sources).Origin);
        Assert.Equal(2, prepare.StateStep);
        coordinator.Tell(new RankReady(2, survivor.Name, 2), survivor.Probe.Ref);
        ExpectRun(survivor.Probe, 2, 3);
    }

    [Fact]
    public void A_generation_that_starts_after_the_last_step_writes_the_final_checkpoint_and_finishes_without_another_step()
    {
        Sys.EventStream.Subscribe(TestActor, typeof(JobFinished));
        // Step 2 is the last: the final checkpoint's writer dies.
        var (coordinator, survivor, _) = KillTheWriterOfStep2(Job with { Steps = 2, CheckpointEvery = 100 });
        Assert.Equal(2, ExpectPrepare(survivor.Probe, 2).StateStep);
        coordinator.Tell(new RankReady(2, survivor.Name, 2), survivor.Probe.Ref);

        // No step 3: the survivor writes the final checkpoint, and the job ends at step 2.
        var next = survivor.Probe.FishForMessage(m => m is WriteCheckpoint or RunStep, TimeSpan.FromSeconds(10));
        var write = Assert.IsType<WriteCheckpoint>(next);
        Assert.Equal((2L, 2L), (write.Generation, write.Step));
        coordinator.Tell(Written(2, 2, write.Path, "sha"), survivor.Probe.Ref);
        var finished = ExpectMsg<JobFinished>();
        Assert.Equal((2L, false), (finished.Step, finished.AlreadyFinished));
    }

    [Fact]
    public void A_member_silent_after_the_others_finished_the_step_is_left_out_at_once()
    {
        var coordinator = Sys.ActorOf(Coordinator.Props(new CoordinatorSetup(Job with { Steps = 100, CheckpointEvery = 1000 }, "hash", "data", 2,
            new CheckpointStore(_checkpoints), TimeSpan.FromSeconds(30), JoinSettle: TimeSpan.Zero,
            LivenessTimeout: TimeSpan.FromMilliseconds(500), SuspicionTimeout: TimeSpan.FromSeconds(30))));
        var ranks = Register(coordinator, R("m/r0"), R("n/r0"));
        foreach (var (probe, name) in ranks) { ExpectPrepare(probe, 1); coordinator.Tell(new RankReady(1, name, 0), probe.Ref); }
        CompleteStep(ranks, 1, 1, coordinator);

        // Both ran step 2's ring to its end; m/r0's process died before it reported. Nothing is
        // left to fail: only the probe of the member that has not reported notices.
        var (live, dead) = (ranks.Single(r => r.Name == R("n/r0")), ranks.Single(r => r.Name == R("m/r0")));
        foreach (var (probe, _) in ranks) ExpectRun(probe, 1, 2);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        coordinator.Tell(new StepExchanged(1, 2, live.Name, 4, new int[2], 1, 1, 0), live.Probe.Ref);
        dead.Probe.FishForMessage(m => m is GetRankStatus, TimeSpan.FromSeconds(5)); // never answered
        live.Probe.FishForMessage(m => m is GetRankStatus, TimeSpan.FromSeconds(5)); // the liveness check after the abort
        coordinator.Tell(new RankStatus(live.Name, 1, 0), live.Probe.Ref);

        var prepare = ExpectPrepare(live.Probe, 2);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"the next generation took {clock.Elapsed}");
        Assert.Equal([live.Name], prepare.Members.Select(m => m.Rank));
        Assert.Equal(1, prepare.StateStep); // step 2 was never committed: it runs again
    }

    [Fact]
    public void A_checkpoint_writer_that_answers_its_probes_is_waited_for()
    {
        Sys.EventStream.Subscribe(TestActor, typeof(CheckpointNotice));
        var coordinator = Sys.ActorOf(Coordinator.Props(new CoordinatorSetup(Job with { Steps = 100, CheckpointEvery = 1 }, "hash", "data", 1,
            new CheckpointStore(_checkpoints), TimeSpan.FromSeconds(30), JoinSettle: TimeSpan.Zero, LivenessTimeout: TimeSpan.FromSeconds(1))));
        // The rank's actor answers status at once while its compute thread writes; this one does
        // too, and passes everything on to the probe.
        var probe = CreateTestProbe();
        var name = R("n/r0");
        var rank = Sys.ActorOf(Props.Create(() => new AnsweringRank(name, probe.Ref)));
        coordinator.Tell(new RegisterRank(name, rank, -1, "127.0.0.1:1", null, long.MaxValue), rank);
        ExpectPrepare(probe, 1);
        coordinator.Tell(new RankReady(1, name, 0), rank);
        CompleteStep([(probe, name)], 1, 1, coordinator);
        var write = (WriteCheckpoint)probe.FishForMessage(m => m is WriteCheckpoint);
        // A slow write: three probes, each answered, and the coordinator waits.
        for (var i = 0; i < 3; i++) probe.FishForMessage(m => m is GetRankStatus, TimeSpan.FromSeconds(5));
        coordinator.Tell(Written(1, 1, write.Path, "sha"), rank);
        ExpectMsg<CheckpointNotice>(c => c.Step == 1);
        ExpectRun(probe, 1, 2);
    }

    /// <summary>A rank's endpoint that answers status requests itself and passes every message on.</summary>
    private sealed class AnsweringRank : ReceiveActor
    {
        public AnsweringRank(RankId name, IActorRef observer) =>
            ReceiveAny(message =>
            {
                if (message is GetRankStatus) Sender.Tell(new RankStatus(name, 1, 0));
                observer.Forward(message);
            });
    }

    [Fact]
    public void A_rank_that_registers_mid_run_joins_at_the_next_step_boundary_with_state_from_a_live_peer()
    {
        var coordinator = StartCoordinator(ranks: 1);
        var first = Register(coordinator, R("n/r0"));
        ExpectPrepare(first[0].Probe, 1);
        coordinator.Tell(new RankReady(1, R("n/r0"), 0), first[0].Probe.Ref);
        var run = ExpectRun(first[0].Probe, 1, 1);

        var joiner = Register(coordinator, R("m/r0")); // arrives while step 1 runs
        joiner[0].Probe.ExpectNoMsg(TimeSpan.FromMilliseconds(200));
        coordinator.Tell(new StepExchanged(1, 1, R("n/r0"), 8, new int[4], 1, 1, 0), first[0].Probe.Ref);

        var keep = ExpectPrepare(first[0].Probe, 2);
        Assert.IsType<KeepState>(Assert.Single(keep.Sources).Origin);
        Assert.Equal([R("m/r0")], keep.Sends.Select(s => s.To));
        var copy = ExpectPrepare(joiner[0].Probe, 2);
        Assert.Equal(new CopyFromPeer(R("n/r0")), Assert.Single(copy.Sources).Origin);
        Assert.Equal(1, copy.StateStep);
        coordinator.Tell(new RankReady(2, R("n/r0"), 1), first[0].Probe.Ref);
        coordinator.Tell(new RankReady(2, R("m/r0"), 1), joiner[0].Probe.Ref);
        var next = ExpectRun(first[0].Probe, 2, 2);
        // The member keeps its place; the joiner comes after it.
        Assert.Equal([R("n/r0"), R("m/r0")], next.Plan.Slices.Select(s => s.Rank));
    }

    [Fact]
    public void Ranks_that_register_moments_apart_join_together_once_registrations_settle()
    {
        // The second joiner registers a step after the first: the settle time must outlast that step
        // on a loaded machine (1 s did not, in a CI run beside the process tests).
        var settle = TimeSpan.FromSeconds(3);
        var coordinator = StartCoordinator(ranks: 1, joinSettle: settle, Job with { Steps = 100, CheckpointEvery = 1000 });
        var first = Register(coordinator, R("n/r0"));
        ExpectPrepare(first[0].Probe, 1);
        coordinator.Tell(new RankReady(1, R("n/r0"), 0), first[0].Probe.Ref);
        var joiners = new List<(TestProbe Probe, RankId Name)>(Register(coordinator, R("m/r0")));

        // Within the settle time the job keeps stepping in generation 1, and a second rank arrives.
        CompleteStep(first, 1, 1, coordinator);
        joiners.AddRange(Register(coordinator, R("m/r1")));
        var step = 2L;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            var message = first[0].Probe.FishForMessage(m => m is RunStep or PrepareRank, TimeSpan.FromSeconds(10));
            if (message is PrepareRank prepare)
            {
                Assert.Equal(2, prepare.Generation);
                Assert.Equal([R("m/r0"), R("m/r1"), R("n/r0")], prepare.Members.Select(m => m.Rank));
                Assert.True(clock.Elapsed >= settle - TimeSpan.FromMilliseconds(100), "joined before registrations settled");
                break;
            }
            var run = (RunStep)message;
            Assert.Equal((1L, step), (run.Generation, run.Plan.Step));
            Thread.Sleep(100); // a step takes a while
            coordinator.Tell(new StepExchanged(1, step, R("n/r0"), 8, new int[4], 1, 1, 0), first[0].Probe.Ref);
            step++;
        }
        foreach (var (probe, _) in joiners) ExpectPrepare(probe, 2);
    }

    [Fact]
    public void A_job_id_reused_with_another_configuration_is_refused_without_writing()
    {
        Sys.EventStream.Subscribe(TestActor, typeof(JobFailed));
        var first = StartCoordinator(ranks: 1);
        var ranks = Register(first, R("n/r0"));
        ExpectPrepare(ranks[0].Probe, 1);
        Watch(first);
        Sys.Stop(first);
        ExpectTerminated(first);

        var other = Sys.ActorOf(Coordinator.Props(new CoordinatorSetup(Job with { GlobalBatch = 8 }, "other-hash", "data", 1,
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
