using ElasticTrain.Coordination.ParameterServer;
using ElasticTrain.Jobs;
using ElasticTrain.ParameterServer;

namespace ElasticTrain.Tests.Coordination.ParameterServer;

public class StalenessGateTests
{
    private static readonly RankId A = RankId.Parse("127.0.0.1:4000/r0");
    private static readonly RankId B = RankId.Parse("127.0.0.1:4000/r1");
    private static readonly RankId C = RankId.Parse("127.0.0.2:4000/r0");

    /// <summary>Runs <paramref name="worker"/> through steps up to <paramref name="last"/>, each allowed in turn.</summary>
    private static StalenessGate Run(StalenessGate gate, RankId worker, long last)
    {
        for (var step = gate.CompletedBy(worker) + 1; step <= last; step++)
            gate = gate.Started(worker, step).Completed(worker, step);
        return gate;
    }

    [Fact]
    public void Bsp_lets_no_worker_start_a_step_before_every_worker_finished_the_one_before()
    {
        var gate = Run(new StalenessGate(Consistency.Bsp, 0, [A, B]), A, 1);
        Assert.False(gate.MayStart(A, 2));
        Assert.True(gate.MayStart(B, 1));
        Assert.Contains("bsp allows at most step 1", Assert.Throws<ArgumentException>(() => gate.Started(A, 2)).Message);
        gate = Run(gate, B, 1);
        Assert.True(gate.MayStart(A, 2));
        Assert.True(gate.MayStart(B, 2));
        Assert.Equal(1, gate.Slowest);
        Assert.Equal(0, gate.LargestStaleness);
    }

    [Fact]
    public void Ssp_lets_a_worker_run_at_most_s_steps_beyond_the_slowest_workers_next_step()
    {
        var gate = new StalenessGate(Consistency.Ssp, 2, [A, B]);
        gate = Run(gate, A, 2); // A completed 2, B nothing: A may start 3 = 0 + 1 + 2
        Assert.True(gate.MayStart(A, 3));
        gate = gate.Started(A, 3).Completed(A, 3);
        Assert.False(gate.MayStart(A, 4));
        Assert.Equal(2, gate.LargestStaleness);
        gate = Run(gate, B, 1);
        Assert.True(gate.MayStart(A, 4));
        Assert.False(gate.MayStart(A, 5));
        Assert.Equal(1, gate.Slowest);
    }

    [Fact]
    public void Ssp_with_no_staleness_is_lockstep_as_bsp_is()
    {
        var ssp = Run(new StalenessGate(Consistency.Ssp, 0, [A, B]), A, 1);
        var bsp = Run(new StalenessGate(Consistency.Bsp, 0, [A, B]), A, 1);
        Assert.Equal(bsp.MayStart(A, 2), ssp.MayStart(A, 2));
        Assert.False(ssp.MayStart(A, 2));
    }

    [Fact]
    public void Asp_never_holds_a_worker_back_and_reports_how_far_ahead_it_ran()
    {
        var gate = Run(new StalenessGate(Consistency.Asp, 0, [A, B]), A, 50);
        Assert.True(gate.MayStart(A, 51));
        Assert.Equal(0, gate.Slowest);
        Assert.Equal(49, gate.LargestStaleness); // A started step 50 while B had not completed step 1
    }

    [Fact]
    public void A_joiner_starts_at_the_slowest_step_and_holds_nobody_back_that_was_not_held()
    {
        var gate = new StalenessGate(Consistency.Ssp, 1, [A, B], completed: 10);
        gate = Run(Run(gate, A, 12), B, 11);
        Assert.True(gate.MayStart(A, 13));
        gate = gate.Joined(C);
        Assert.Equal(11, gate.CompletedBy(C));
        Assert.Equal(11, gate.Slowest);
        Assert.True(gate.MayStart(A, 13));
        Assert.True(gate.MayStart(C, 12));
        Assert.Contains("already here", Assert.Throws<ArgumentException>(() => gate.Joined(C)).Message);
    }

    [Fact]
    public void A_worker_that_leaves_no_longer_holds_the_others_back()
    {
        var gate = Run(new StalenessGate(Consistency.Bsp, 0, [A, B, C]), A, 1);
        gate = Run(gate, B, 1);
        gate = gate.Started(C, 1); // C dies during step 1
        Assert.False(gate.MayStart(A, 2));
        gate = gate.Left(C);
        Assert.True(gate.MayStart(A, 2));
        Assert.Equal(new[] { A, B }, gate.Workers);
        Assert.Contains("not one of the gate's workers", Assert.Throws<ArgumentException>(() => gate.MayStart(C, 1)).Message);
    }

    [Fact]
    public void The_slowest_step_never_goes_back_even_when_every_worker_leaves()
    {
        var gate = Run(Run(new StalenessGate(Consistency.Bsp, 0, [A, B]), A, 1), B, 1);
        gate = Run(gate, A, 2).Left(A).Left(B);
        Assert.Equal(1, gate.Slowest);
        gate = gate.Joined(C);
        Assert.Equal(1, gate.CompletedBy(C));
        Assert.True(gate.MayStart(C, 2));
    }

    [Fact]
    public void Starts_and_completions_out_of_order_are_refused()
    {
        var gate = new StalenessGate(Consistency.Asp, 0, [A]);
        Assert.Contains("its next step is 1, not 2", Assert.Throws<ArgumentException>(() => gate.Started(A, 2)).Message);
        Assert.Contains("runs no step", Assert.Throws<ArgumentException>(() => gate.Completed(A, 1)).Message);
        var running = gate.Started(A, 1);
        Assert.Equal(1, running.RunningBy(A));
        Assert.Contains("while it runs step 1", Assert.Throws<ArgumentException>(() => running.Started(A, 2)).Message);
        Assert.Contains("but it runs step 1", Assert.Throws<ArgumentException>(() => running.Completed(A, 2)).Message);
    }

    [Fact]
    public void Bad_settings_are_refused_with_the_problem_named()
    {
        Assert.Contains("negative", Assert.Throws<ArgumentException>(() => new StalenessGate(Consistency.Ssp, -1, [A])).Message);
        Assert.Contains("only ssp takes one", Assert.Throws<ArgumentException>(() => new StalenessGate(Consistency.Bsp, 2, [A])).Message);
        Assert.Contains("only ssp takes one", Assert.Throws<ArgumentException>(() => new StalenessGate(Consistency.Asp, 1, [A])).Message);
        Assert.Contains("given twice", Assert.Throws<ArgumentException>(() => new StalenessGate(Consistency.Bsp, 0, [A, A])).Message);
        Assert.Contains("Completed step -1", Assert.Throws<ArgumentException>(() => new StalenessGate(Consistency.Bsp, 0, [A], -1)).Message);
    }
}
