using System.Text.RegularExpressions;
using System.Runtime.InteropServices;
using ElasticTrain.Checkpointing;
namespace ElasticTrain.Tests.ParameterServer;

/// <summary>
/// Whole parameter-server jobs in one process (a one-node cluster whose shards are entities of its
/// shard region, the tensors on its data plane): under bsp the curve is all-reduce's, step for
/// step, whatever the number of workers and shards, and a job resumed from the shards' checkpoint
/// goes on as if never stopped.
/// </summary>
/// <remarks>
/// 1e-4 relative per step, as for data parallelism: what differs is the order of float32 sums (a
/// shard adds the workers' pushes in their order of arrival). The global batch of 10 splits
/// unevenly over 3 workers, a clipping ceiling binds on many steps (the norm must be the whole
/// model's, summed over the shards), and AdamW's state lives only in the shards.
/// </remarks>
public sealed class ParameterServerTrainingTests
{
    private const int Steps = 30;

    private static readonly string[] Job =
    [
        .. TrainRun.TinyGpt, "--global-batch", "10", "--steps", Steps.ToString(), "--checkpoint-every", "10",
        "--lr-schedule", "cosine", "--warmup-steps", "5", "--clip-norm", "0.5",
    ];

    private static async Task<TrainRun> Run(params string[] extra)
    {
        var run = new TrainRun();
        var (code, error) = await run.RunAsync([.. Job, .. extra]);
        Assert.True(code == 0, $"{string.Join(' ', extra)}: {error}");
        return run;
    }

    /// <summary>LAMB too: its trust ratios are whole tensors', though 8 shards split the larger ones by rows.</summary>
    [Theory]
    [InlineData("adamw", 4)]
    [InlineData("lamb", 8)]
    public async Task Bsp_workers_and_shards_train_with_the_curve_of_one_all_reduce_rank(string optimizer, int shards)
    {
        using var one = await Run("--ranks", "1", "--optimizer", optimizer);
        using var ps = await Run("--mode", "ps", "--ranks", "3", "--shards", shards.ToString(), "--optimizer", optimizer);

        var losses = one.Losses();
        Assert.Equal(Steps, losses.Count);
        Assert.True(losses.Values.Skip(Steps - 5).Average() < losses.Values.Take(5).Average(), "the job did not learn");
        LossCurves.AssertEquivalent(losses, ps.Losses(), relative: 1e-4);
        var norms = ps.Records("step").Select(r => r.GetProperty("grad_norm").GetDouble()).ToList();
        Assert.True(norms.Count(n => n > 0.5) >= 5, $"the ceiling bound on only {norms.Count(n => n > 0.5)} of {Steps} steps");
        // LAMB's ratios over split tensors barely move the loss: the weights show them. Adam's weights
        // cannot be compared so: its normalized step turns the rounding noise of a gradient that is
        // zero in exact arithmetic (the keys' bias, which softmax ignores) into steps of full size.
        if (optimizer != "lamb") return;
        var pieces = Regex.Matches(File.ReadAllText(ps.CheckpointPath(Steps)), @"[\w.]+\[\d+,\d+\)").Select(m => m.Value).ToList();
        Assert.True(pieces.Count > 0, "no tensor was split by rows: LAMB's ratios would need no adding up");
        AssertSameParameters(one.Checkpoint(Steps), ps.Checkpoint(Steps));
    }

    /// <summary>
    /// The final weights, closer than the loss can show: every tensor within 1e-5 of its largest
    /// value. Float sums in another order move them by about 1e-7; LAMB at one shard's rows'
    /// ratio instead of the whole tensor's, by about 1e-3.
    /// </summary>
    private static void AssertSameParameters(NamedState expected, NamedState actual)
    {
        Assert.Equal(expected.Names.Order(), actual.Names.Order());
        foreach (var name in expected.Names)
        {
            var e = MemoryMarshal.Cast<byte, float>(expected[name].Value.Data);
            var a = MemoryMarshal.Cast<byte, float>(actual[name].Value.Data);
            Assert.Equal(e.Length, a.Length);
            double gap = 0, scale = 0;
            for (var i = 0; i < e.Length; i++)
            {
                gap = Math.Max(gap, Math.Abs(e[i] - a[i]));
                scale = Math.Max(scale, Math.Abs(e[i]));
            }
            Assert.True(gap <= 1e-5 * scale, $"{name}: the values differ by up to {gap:E2}, {gap / scale:E2} of the largest");
        }
    }

    /// <summary>
    /// The optimizer state lives only in the shards: a job stopped past a checkpoint must resume from
    /// the parts the shards wrote, replay the steps after it with the journaled losses, and go on
    /// with the curve of a job never stopped. The first run asks for many steps so that it is
    /// surely stopped mid-way; steps are not part of the job's identity (the schedule is constant).
    /// </summary>
    [Fact]
    public async Task A_stopped_job_resumes_from_the_checkpoint_its_shards_wrote_with_the_curve_unchanged()
    {
        string[] job = [.. TrainRun.TinyGpt, "--global-batch", "10", "--checkpoint-every", "10", "--clip-norm", "0.5"];
        using var one = new TrainRun();
        var (oneCode, oneError) = await one.RunAsync([.. job, "--steps", Steps.ToString(), "--ranks", "1"]);
        Assert.True(oneCode == 0, oneError);

        using var ps = new TrainRun();
        string[] workers = ["--mode", "ps", "--ranks", "2", "--shards", "3"];
        using (var stop = new CancellationTokenSource(TimeSpan.FromMinutes(2)))
        {
            var first = ps.RunAsync([.. job, .. workers, "--steps", "100000"], stop.Token);
            while (LastStep(ps) < 12)
            {
                if (first.IsCompleted) Assert.Fail($"the first run ended on its own: {(await first).Error}");
                await Task.Delay(20);
            }
            stop.Cancel();
            Assert.Equal(130, (await first).ExitCode);
        }
        var (code, error) = await ps.RunAsync([.. job, .. workers, "--steps", Steps.ToString()]);
        Assert.True(code == 0, error);

        var resume = Assert.Single(ps.Records("resume"));
        Assert.Contains("step-000000010", resume.GetProperty("checkpoint").GetString()!);
        var replays = ps.Records("replay");
        Assert.NotEmpty(replays);
        Assert.All(replays, r => Assert.Equal(r.GetProperty("journaled_loss").GetDouble(), r.GetProperty("loss").GetDouble(), 1e-4));
        LossCurves.AssertEquivalent(one.Losses(), ps.Losses(), relative: 1e-4);
    }

    /// <summary>
    /// Workers that run ahead learn: the last ten steps' mean loss is within 10% of bsp's at equal
    /// steps (bsp falls from 5.6 to about 3.4 in these 60 steps; ssp(2) and asp end within 5% of it
    /// here), and no step's gradient was computed on values older than the bound: the staleness the
    /// coordinator records per step never passes it, and reaches it, so the workers did run ahead.
    /// </summary>
    [Theory]
    [InlineData("ssp", 2)]
    [InlineData("asp", 4)]
    public async Task Workers_that_run_ahead_learn_like_bsp_and_never_pass_the_staleness_bound(string consistency, int bound)
    {
        string[] job = [.. TrainRun.TinyGpt, "--global-batch", "12", "--steps", "60", "--mode", "ps", "--ranks", "3", "--shards", "3"];
        using var bsp = new TrainRun();
        var (bspCode, bspError) = await bsp.RunAsync(job);
        Assert.True(bspCode == 0, bspError);
        using var ahead = new TrainRun();
        var (code, error) = await ahead.RunAsync([.. job, "--consistency", consistency, "--staleness", "2"]);
        Assert.True(code == 0, error);

        static double Tail(TrainRun run) => run.Losses().Values.TakeLast(10).Average();
        Assert.True(Tail(ahead) < Tail(bsp) * 1.10, $"{consistency} ends at {Tail(ahead):0.000}, bsp at {Tail(bsp):0.000}");
        Assert.True(Tail(ahead) < ahead.Losses().Values.First() - 1, $"{consistency} did not learn");
        var staleness = ahead.Records("step").Select(r => r.GetProperty("staleness").GetInt64()).ToList();
        Assert.Equal(60, staleness.Count);
        Assert.Equal(bound, staleness.Max());
        Assert.All(bsp.Records("step"), r => Assert.Equal(System.Text.Json.JsonValueKind.Null, r.GetProperty("staleness").ValueKind));
    }

    /// <summary>The last step the run's metrics file records so far; a line being written is not read yet.</summary>
    private static long LastStep(TrainRun run)
    {
        try { return run.Losses().Keys.DefaultIfEmpty().Max(); }
        catch (System.Text.Json.JsonException) { return 0; }
        catch (IOException) { return 0; }
    }
}
