using Akka.Actor;
using ElasticTrain.Coordination;
using ElasticTrain.Jobs;
using static ElasticTrain.Tests.Support.TestRanks;

namespace ElasticTrain.Tests.Coordination;

public class RosterTests
{
    private static readonly DateTime T0 = new(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc);

    private sealed class Endpoint(string path) : MinimalActorRef
    {
        public override ActorPath Path { get; } = new RootActorPath(new Address("akka", "test")) / path;
        public override IActorRefProvider Provider => throw new NotSupportedException();
    }

    private static Roster With(params string[] ranks)
    {
        var roster = new Roster();
        foreach (var rank in ranks) roster.Register(R(rank), new Endpoint(rank.Replace('/', '-')), "h:1", -1, T0);
        return roster;
    }

    [Fact]
    public void Registration_tells_new_known_and_replaced_ranks_apart()
    {
        var roster = new Roster();
        var first = new Endpoint("a");
        Assert.Equal(Roster.Registration.New, roster.Register(R("a"), first, "h:1", -1, T0));
        Assert.Equal(Roster.Registration.Known, roster.Register(R("a"), first, "h:1", 5, T0.AddSeconds(2)));
        Assert.Equal(T0, roster.LastNewRank); // re-registration is not a newcomer
        Assert.Equal(Roster.Registration.Replaced, roster.Register(R("a"), new Endpoint("a2"), "h:2", 7, T0.AddSeconds(3)));
        Assert.Equal(7, roster[R("a")].StateStep);
        Assert.Equal("h:2", roster[R("a")].DataPlane);
    }

    [Fact]
    public void Desired_members_leave_out_drained_and_suspected_ranks_and_respect_the_scale_target()
    {
        var roster = With("b:1/r0", "a:1/r1", "a:1/r0", "c:1/r0");
        Assert.Equal([R("a:1/r0"), R("a:1/r1"), R("b:1/r0"), R("c:1/r0")], roster.Desired());
        Assert.True(roster.Drain(new NodeAddress("a", 1)).Accepted);
        Assert.Equal([R("b:1/r0"), R("c:1/r0")], roster.Desired());
        Assert.True(roster.Suspect(R("c:1/r0")));
        Assert.Equal([R("b:1/r0")], roster.Desired());
        Assert.True(roster.Clear(R("c:1/r0")));
        roster.Scale(1);
        Assert.Equal([R("b:1/r0")], roster.Desired());
        Assert.Equal([R("c:1/r0")], roster.Idle([R("b:1/r0")]));
        Assert.Equal(Roster.Registration.Drained, roster.Register(R("a:1/r0"), new Endpoint("again"), "h:1", -1, T0));
    }

    [Fact]
    public void A_suspect_that_registers_as_a_new_incarnation_is_trusted_again()
    {
        var roster = With("a", "b");
        roster.Suspect(R("b"));
        Assert.Equal([R("a")], roster.Desired());
        roster.Register(R("b"), new Endpoint("b-new"), "h:1", -1, T0);
        Assert.Equal([R("a"), R("b")], roster.Desired());
    }

    [Fact]
    public void Draining_the_node_of_the_last_ranks_or_an_unknown_node_is_refused()
    {
        var roster = With("a:1/r0", "a:1/r1");
        Assert.Equal("no ranks of this job run on z:9", roster.Drain(new NodeAddress("z", 9)).Message);
        var last = roster.Drain(new NodeAddress("a", 1));
        Assert.False(last.Accepted);
        Assert.Equal("a:1 runs the job's last ranks; it cannot be drained", last.Message);
    }

    [Fact]
    public void Removing_a_rank_by_its_actor_forgets_it()
    {
        var roster = new Roster();
        var endpoint = new Endpoint("a");
        roster.Register(R("a"), endpoint, "h:1", -1, T0);
        roster.Suspect(R("a"));
        Assert.Equal(R("a"), roster.Remove(endpoint));
        Assert.Null(roster.Remove(endpoint));
        Assert.Empty(roster.Suspects);
        Assert.False(roster.Suspect(R("a"))); // nothing to suspect any more
    }

    [Fact]
    public void A_speed_is_the_median_of_the_last_five_steps_and_ignores_empty_reports()
    {
        var roster = With("a");
        roster.MeasureSpeed(R("a"), samples: 10, computeMs: 100); // 100 samples/s
        roster.MeasureSpeed(R("a"), samples: 0, computeMs: 100);
        Assert.Equal(100, roster.Speeds[R("a")], 6);
        roster.MeasureSpeed(R("a"), samples: 20, computeMs: 100); // 200 samples/s
        Assert.Equal(150, roster.Speeds[R("a")], 6);
        roster.MeasureSpeed(R("a"), samples: 5, computeMs: 100);  // one slow step among fast ones moves nothing
        Assert.Equal(100, roster.Speeds[R("a")], 6);
        roster.MeasureSpeed(R("a"), samples: 20, computeMs: 100);
        roster.MeasureSpeed(R("a"), samples: 20, computeMs: 100);
        Assert.Equal(200, roster.Speeds[R("a")], 6);
    }

    [Fact]
    public void A_newcomers_cold_first_step_is_forgotten_within_three_steps()
    {
        // Measured on 2 processes: the joining node's first step took 674 ms for 8 samples, the next ones 175-225.
        var roster = With("a");
        roster.MeasureSpeed(R("a"), samples: 8, computeMs: 674);
        roster.MeasureSpeed(R("a"), samples: 8, computeMs: 200);
        roster.MeasureSpeed(R("a"), samples: 8, computeMs: 200);
        Assert.Equal(40, roster.Speeds[R("a")], 6);
        for (int i = 0; i < Roster.SpeedWindow; i++) roster.MeasureSpeed(R("a"), samples: 8, computeMs: 400);
        Assert.Equal(20, roster.Speeds[R("a")], 6); // a rank that really slows down is followed as fast
    }

    [Fact]
    public void Newcomers_wait_for_registrations_to_settle_but_other_changes_do_not()
    {
        var roster = With("a");
        roster.Register(R("b"), new Endpoint("b"), "h:1", -1, T0.AddSeconds(10));
        var settle = TimeSpan.FromMilliseconds(500);
        Assert.True(roster.JoinersStillArriving([R("a")], [R("a"), R("b")], T0.AddSeconds(10.2), settle));
        Assert.False(roster.JoinersStillArriving([R("a")], [R("a"), R("b")], T0.AddSeconds(10.6), settle));
        // A member leaving is no newcomer: it takes effect at once.
        Assert.False(roster.JoinersStillArriving([R("a"), R("c")], [R("a"), R("b")], T0.AddSeconds(10.2), settle));
    }

    [Fact]
    public void A_generation_starts_with_a_prepare_per_member_state_from_a_live_outsider_and_drained_ranks_released()
    {
        // b idles under a scale target and holds step 9; a is drained; c joins the generation with b's state.
        // a is drained (it held an older step); b idles under a scale target and holds step 9; c joins the generation with b's state.
        var whole = new LayerRange(0, 4);
        var roster = With("a:1/r0", "b:1/r0", "c:1/r0");
        roster.HoldsState(R("a:1/r0"), 8, whole);
        roster.HoldsState(R("b:1/r0"), 9, whole);
        roster.Drain(new NodeAddress("a", 1));
        var mesh = ElasticTrain.Ranks.Pipeline.MeshLayout.DataParallel(4, [R("c:1/r0")]);
        var plan = MeshStatePlanner.Decide(new Dictionary<RankId, LayerRange> { [R("c:1/r0")] = whole }, roster.Holdings, committedStep: 9, checkpoint: null);

        var orders = GenerationOrders.For("j", 4, mesh, plan, roster).ToList();
        var prepare = Assert.IsType<ElasticTrain.Ranks.PrepareRank>(Assert.Single(orders, o => o.Order is ElasticTrain.Ranks.PrepareRank).Order);
        Assert.Equal((4L, 9L), (prepare.Generation, prepare.StateStep));
        Assert.Equal([new ElasticTrain.Ranks.LayerSource(whole, new ElasticTrain.Ranks.CopyFromPeer(R("b:1/r0")))], prepare.Sources);
        var serve = Assert.Single(orders, o => o.Order is ElasticTrain.Ranks.ServeState);
        Assert.Equal(roster[R("b:1/r0")].Endpoint, serve.To);
        Assert.Equal([(R("c:1/r0"), whole)], ((ElasticTrain.Ranks.ServeState)serve.Order).Targets.Select(t => (t.To.Rank, t.Layers)));
        var over = Assert.Single(orders, o => o.Order is ElasticTrain.Ranks.JobOver);
        Assert.Equal(roster[R("a:1/r0")].Endpoint, over.To);
    }

    [Fact]
    public void Ranks_leaving_by_plan_hand_their_residuals_to_a_member_and_a_drained_one_is_released_after_it()
    {
        // a (drained) and b (idle) leave a mesh of a, b, c; c takes their residuals.
        var whole = new LayerRange(0, 4);
        var roster = With("a:1/r0", "b:1/r0", "c:1/r0");
        foreach (var rank in new[] { "a:1/r0", "b:1/r0", "c:1/r0" }) roster.HoldsState(R(rank), 9, whole);
        roster.Drain(new NodeAddress("a", 1));
        var mesh = ElasticTrain.Ranks.Pipeline.MeshLayout.DataParallel(4, [R("c:1/r0")]);
        var plan = MeshStatePlanner.Decide(new Dictionary<RankId, LayerRange> { [R("c:1/r0")] = whole }, roster.Holdings, committedStep: 9, checkpoint: null);
        var handOffs = new Dictionary<RankId, RankId> { [R("a:1/r0")] = R("c:1/r0"), [R("b:1/r0")] = R("c:1/r0") };

        var orders = GenerationOrders.For("j", 4, mesh, plan, roster, handOffs).ToList();
        var prepare = Assert.IsType<ElasticTrain.Ranks.PrepareRank>(Assert.Single(orders, o => o.Order is ElasticTrain.Ranks.PrepareRank).Order);
        Assert.Equal([R("a:1/r0"), R("b:1/r0")], prepare.ResidualsFrom);
        var handing = orders.Where(o => o.Order is ElasticTrain.Ranks.HandOffResiduals).ToList();
        Assert.Equal([roster[R("a:1/r0")].Endpoint, roster[R("b:1/r0")].Endpoint], handing.Select(h => h.To));
        var (drained, idle) = ((ElasticTrain.Ranks.HandOffResiduals)handing[0].Order, (ElasticTrain.Ranks.HandOffResiduals)handing[1].Order);
        Assert.Equal((4L, 9L, R("c:1/r0")), (drained.Generation, drained.Step, drained.To.Rank));
        Assert.Equal("drained", drained.Then?.Reason);
        Assert.Null(idle.Then);
        Assert.DoesNotContain(orders, o => o.Order is ElasticTrain.Ranks.JobOver); // the drained rank ends after its hand-off
    }
}
