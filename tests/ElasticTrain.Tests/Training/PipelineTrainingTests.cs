namespace ElasticTrain.Tests.Training;

/// <summary>
/// Whole pipelined jobs in one process (ranks on their own threads, stages linked in process):
/// the loss curve of a dp x pp mesh is the static 1-rank curve, whatever the schedule and however
/// the micro-batches compare with the stages, and a checkpoint written by one mesh resumes on
/// another with no conversion.
/// </summary>
/// <remarks>
/// 1e-4 relative per step, as for data parallelism: what differs is the order of float32 sums over
/// micro-batches and replicas. The global batch of 10 splits unevenly into replicas (3 x 1: 4, 3, 3)
/// and micro-batches, so a gradient scaled right only for equal parts fails.
/// </remarks>
public sealed class PipelineTrainingTests
{
    private const int Steps = 100;
    private static readonly string[] Job = [.. TrainRun.TinyGpt, "--global-batch", "10", "--steps", "100", "--checkpoint-every", "50"];
    private static readonly Lazy<Task<SortedDictionary<long, double>>> Reference = new(async () =>
    {
        using var one = new TrainRun();
        var (code, error) = await one.RunAsync([.. Job, "--ranks", "1"]);
        Assert.True(code == 0, error);
        return one.Losses();
    });

    /// <summary>ranks, stages, micro-batches (below, equal to and above the stages), schedule: the mesh is ranks/stages x stages.</summary>
    public static TheoryData<int, int, int, string> Meshes() => new()
    {
        { 2, 2, 1, "gpipe" },  // 1x2, fewer micro-batches than stages
        { 2, 2, 3, "1f1b" },   // 1x2
        { 4, 2, 2, "1f1b" },   // 2x2, as many as stages
        { 4, 4, 6, "1f1b" },   // 1x4, more than stages
        { 4, 4, 4, "gpipe" },  // 1x4
        { 3, 1, 1, "1f1b" },   // 3x1: plain data parallelism
    };

    [Theory]
    [MemberData(nameof(Meshes))]
    public async Task A_mesh_trains_with_the_curve_of_one_rank(int ranks, int stages, int microBatches, string schedule)
    {
        using var run = new TrainRun();
        var (code, error) = await run.RunAsync([.. Job, "--ranks", ranks.ToString(), "--stages", stages.ToString(),
            "--micro-batches", microBatches.ToString(), "--schedule", schedule]);
        Assert.True(code == 0, error);

        var reference = await Reference.Value;
        Assert.True(reference[Steps] < reference[1], "the model did not learn");
        LossCurves.AssertEquivalent(reference, run.Losses(), relative: 1e-4);
        var mesh = $"{ranks / stages}x{stages}";
        Assert.Equal(mesh, Assert.Single(run.Records("start")).GetProperty("mesh").GetString());
        if (stages > 1)
            Assert.All(run.Records("step"), r => Assert.InRange(r.GetProperty("bubble").GetDouble(), 0, 1));
    }

    /// <summary>A 1x4 job checkpoints in four parts; the same job continued on 2x1 loads them by name and goes on with the same curve.</summary>
    [Fact]
    public async Task A_checkpoint_of_a_1x4_mesh_resumes_on_2x1()
    {
        using var run = new TrainRun();
        string[] halfway = [.. TrainRun.TinyGpt, "--global-batch", "10", "--steps", "50", "--checkpoint-every", "50"];
        var (code, error) = await run.RunAsync([.. halfway, "--ranks", "4", "--stages", "4", "--micro-batches", "5"]);
        Assert.True(code == 0, error);
        var parts = Directory.GetFiles(run.DataDirectory, "*.part-*-of-4.ckpt", SearchOption.AllDirectories);
        Assert.Equal(4, parts.Length);

        (code, error) = await run.RunAsync([.. Job, "--ranks", "2", "--stages", "1"]);
        Assert.True(code == 0, error);
        var resume = Assert.Single(run.Records("resume"));
        Assert.Equal((51L, "2x1"), (resume.GetProperty("from_step").GetInt64(), resume.GetProperty("mesh").GetString()));
        LossCurves.AssertEquivalent(await Reference.Value, run.Losses(), relative: 1e-4);
    }
}
