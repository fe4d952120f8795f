using Akka.Actor;
using Akka.Configuration;
using Akka.TestKit;
using Akka.TestKit.Xunit2;
using ElasticTrain.Checkpointing;
using ElasticTrain.Configuration;
using ElasticTrain.Coordination;
using ElasticTrain.Jobs;
using ElasticTrain.Ranks;
using ElasticTrain.Training;
using ElasticTrain.Wire;
using static ElasticTrain.Tests.Support.TestRanks;

namespace ElasticTrain.Tests.Evaluation;

/// <summary>The coordinator's side of evaluation, with probes for ranks: when it asks, what it waits for, and a failure in the middle.</summary>
public sealed class CoordinatorEvaluationTests() : TestKit(ConfigurationFactory.ParseString("""
        akka.persistence.journal.plugin = "akka.persistence.journal.inmem"
        akka.persistence.snapshot-store.plugin = "akka.persistence.snapshot-store.inmem"
        """).WithFallback(HoconFiles.Reference(typeof(IWireMessage).Assembly)))
{
    private static readonly JobConfig Job = new("eval", "mlp", 1, 1, 8, 8, GlobalBatch: 4, Steps: 4, 1e-3, 0, 1, "", CheckpointEvery: 100);

    private (TestProbe Probe, RankId Name)[] Start()
    {
        var coordinator = Sys.ActorOf(Coordinator.Props(new CoordinatorSetup(Job, "hash", "data", 2,
            new CheckpointStore(Path.Combine(Path.GetTempPath(), "et-eval-" + Guid.NewGuid().ToString("N"))), TimeSpan.FromSeconds(30),
            // Patient liveness probes: a slow test machine must not look like a silent rank.
            JoinSettle: TimeSpan.Zero, LivenessTimeout: TimeSpan.FromSeconds(10), Recipe: TrainingRecipe.Default with { EvalEvery = 2 }, HeldOut: 5)));
        _coordinator = coordinator;
        var ranks = new[] { R("n/r0"), R("n/r1") }.Select(n => (CreateTestProbe(), n)).ToArray();
        foreach (var (probe, name) in ranks) coordinator.Tell(new RegisterRank(name, probe.Ref, -1, "127.0.0.1:1", null, long.MaxValue), probe.Ref);
        Ready(ranks, generation: 1, stateStep: 0);
        return ranks;
    }

    private IActorRef _coordinator = ActorRefs.Nobody;

    private void Ready((TestProbe Probe, RankId Name)[] ranks, long generation, long stateStep)
    {
        foreach (var (probe, name) in ranks)
        {
            var prepare = (PrepareRank)probe.FishForMessage(m => m is PrepareRank p && p.Generation == generation, TimeSpan.FromSeconds(10));
            Assert.Equal(stateStep, prepare.StateStep);
            _coordinator.Tell(new RankReady(generation, name, stateStep), probe.Ref);
        }
    }

    private void Step((TestProbe Probe, RankId Name)[] ranks, long generation, long step)
    {
        foreach (var (probe, name) in ranks)
        {
            var run = (RunStep)probe.FishForMessage(m => m is RunStep, TimeSpan.FromSeconds(10));
            Assert.Equal((generation, step), (run.Generation, run.Plan.Step));
            var count = run.Plan.Slices[run.Plan.PositionOf(name)].Count;
            _coordinator.Tell(new StepExchanged(generation, step, name, count * 2.0, new int[count], 1, 1, 0), probe.Ref);
        }
    }

    /// <summary>Each rank's order to evaluate, which must come before any later step.</summary>
    private static EvaluateHeldOut[] ExpectEvaluate((TestProbe Probe, RankId Name)[] ranks, long generation, long step) =>
    [
        .. ranks.Select(r =>
        {
            var evaluate = Assert.IsType<EvaluateHeldOut>(r.Probe.FishForMessage(m => m is EvaluateHeldOut or RunStep, TimeSpan.FromSeconds(10)));
            Assert.Equal((generation, step), (evaluate.Generation, evaluate.Step));
            return evaluate;
        }),
    ];

    /// <summary>Two ranks through steps 1 and 2 (eval-every 2) to the orders to evaluate step 2; this test hears the notices.</summary>
    private ((TestProbe Probe, RankId Name)[] Ranks, EvaluateHeldOut[] Orders) RunToTheFirstEvaluation()
    {
        Sys.EventStream.Subscribe(TestActor, typeof(EvaluationNotice));
        var ranks = Start();
        Step(ranks, 1, 1);
        Step(ranks, 1, 2);
        return (ranks, ExpectEvaluate(ranks, 1, 2));
    }

    [Fact]
    public void Every_eval_every_steps_the_replicas_evaluate_their_shares_before_the_next_step_and_the_mean_is_published()
    {
        var (ranks, orders) = RunToTheFirstEvaluation();
        Assert.Equal([(0, 3), (3, 2)], orders.Select(o => (o.Offset, o.Count)));
        ranks[0].Probe.ExpectNoMsg(TimeSpan.FromMilliseconds(300)); // step 3 waits for the evaluation
        ranks[1].Probe.ExpectNoMsg(TimeSpan.Zero);

        _coordinator.Tell(new HeldOutEvaluated(1, 2, ranks[0].Name, 6.0, 3, 1), ranks[0].Probe.Ref);
        _coordinator.Tell(new HeldOutEvaluated(1, 2, ranks[1].Name, 4.5, 2, 1), ranks[1].Probe.Ref);
        var notice = ExpectMsg<EvaluationNotice>();
        Assert.Equal((2L, 10.5 / 5, 5), (notice.Step, notice.Loss, notice.Samples));
        Assert.Equal(Math.Exp(10.5 / 5), notice.Perplexity, 12);
        Step(ranks, 1, 3);
    }

    [Fact]
    public void An_evaluation_cut_short_by_a_failure_runs_again_before_the_next_generations_first_step()
    {
        var (ranks, _) = RunToTheFirstEvaluation();
        _coordinator.Tell(new StepFailed(1, 2, ranks[1].Name, "out of memory"), ranks[1].Probe.Ref);
        foreach (var (probe, name) in ranks)
        {
            probe.FishForMessage(m => m is GetRankStatus, TimeSpan.FromSeconds(10));
            _coordinator.Tell(new RankStatus(name, 1, 0), probe.Ref);
        }
        Ready(ranks, generation: 2, stateStep: 2);
        foreach (var (probe, name) in ranks)
        {
            var again = ExpectEvaluate([(probe, name)], 2, 2)[0];
            _coordinator.Tell(new HeldOutEvaluated(2, 2, name, again.Count * 1.5, again.Count, 1), probe.Ref);
        }
        Assert.Equal((2L, 1.5, 2L), ExpectMsg<EvaluationNotice>() is var n ? (n.Step, n.Loss, n.Generation) : default);
        Step(ranks, 2, 3);
    }
}
