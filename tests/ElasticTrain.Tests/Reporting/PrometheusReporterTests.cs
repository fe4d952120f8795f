using ElasticTrain.Cli.Reporting;
using ElasticTrain.Coordination;
using ElasticTrain.Ranks;
using Prometheus;

namespace ElasticTrain.Tests.Reporting;

/// <summary>The job's notices become Prometheus series with the standard names and units.</summary>
public sealed class PrometheusReporterTests
{
    private static StepCommittedNotice Notice(long step, long generation = 1) => new(step, 5.0 - step * 0.01, 2, generation, 0, StepMs: 250, Samples: 8,
        MaxComputeMs: 200, MaxExchangeMs: 40, ExposedMs: 10, MaxWaitMs: 12);

    private static async Task<PrometheusText> Scrape(CollectorRegistry registry)
    {
        using var text = new MemoryStream();
        await registry.CollectAndExportAsTextAsync(text);
        return PrometheusText.Parse(System.Text.Encoding.UTF8.GetString(text.ToArray()));
    }

    [Fact]
    public async Task Committed_steps_grow_the_counter_and_set_the_step_gauges()
    {
        var registry = Metrics.NewCustomRegistry();
        using var reporter = new PrometheusReporter(registry, localRanks: 2);
        reporter.Running(new JobRunning("job", 1, 100, 1, 2, null, []));
        reporter.Committed(Notice(1));
        var first = await Scrape(registry);
        reporter.Committed(Notice(2));
        reporter.Committed(Notice(3));
        var later = await Scrape(registry);

        Assert.Equal(1, first["elastictrain_steps_committed_total"]);
        Assert.Equal(3, later["elastictrain_steps_committed_total"]);
        Assert.Equal(3, later["elastictrain_step"]);
        Assert.Equal(100, later["elastictrain_job_steps"]);
        Assert.Equal(Notice(3).Loss, later["elastictrain_loss"], 1e-12);
        Assert.Equal(2, later["elastictrain_world_size"]);
        Assert.Equal(1, later["elastictrain_generation"]);
        Assert.Equal(3, later["elastictrain_step_duration_seconds_count"]);
        Assert.Equal(0.75, later["elastictrain_step_duration_seconds_sum"], 1e-9);
        Assert.Equal(0.2, later["elastictrain_step_compute_seconds"], 1e-9);
        Assert.Equal(0.04, later["elastictrain_step_exchange_seconds"], 1e-9);
        Assert.Equal(0.01, later["elastictrain_step_exposed_exchange_seconds"], 1e-9);
        Assert.Equal(2, later["elastictrain_node_ranks"]);
    }

    [Fact]
    public async Task Generations_and_checkpoints_are_counted()
    {
        var registry = Metrics.NewCustomRegistry();
        using var reporter = new PrometheusReporter(registry, localRanks: 1);
        reporter.Running(new JobRunning("job", 1, 100, 1, 2, null, []));
        reporter.Checkpointed(new CheckpointNotice(50, "ckpt-50", 1));
        reporter.Running(new JobRunning("job", 51, 100, 2, 3, new CheckpointRef(50, "ckpt-50", "sha"), []));
        reporter.Replayed(new StepReplayed(51, 4.5, 4.5, 2));

        var scrape = await Scrape(registry);
        Assert.Equal(2, scrape["elastictrain_generation_changes_total"]);
        Assert.Equal(2, scrape["elastictrain_generation"]);
        Assert.Equal(3, scrape["elastictrain_world_size"]);
        Assert.Equal(1, scrape["elastictrain_checkpoints_total"]);
        Assert.Equal(50, scrape["elastictrain_checkpoint_step"]);
        Assert.Equal(1, scrape["elastictrain_steps_replayed_total"]);
    }

    [Fact]
    public async Task Bytes_pauses_recoveries_checkpoint_time_and_each_rank_s_compute_are_measured()
    {
        var registry = Metrics.NewCustomRegistry();
        using var reporter = new PrometheusReporter(registry, localRanks: 2);
        var (a, b) = (ElasticTrain.Jobs.RankId.Parse("a:1/r0"), ElasticTrain.Jobs.RankId.Parse("b:2/r0"));
        reporter.Running(new JobRunning("job", 1, 100, 1, 2, null, []));
        reporter.Committed(Notice(1) with { TimeUnixMs = 10_000, BytesSent = 1000, RankCompute = [(a, 150), (b, 200)] });
        reporter.Checkpointed(new CheckpointNotice(1, "ckpt-1", 1, DurationMs: 300));
        // b dies; the job resumes from the checkpoint 2.5 s after the last commit.
        reporter.Running(new JobRunning("job", 2, 100, 2, 1, new CheckpointRef(1, "ckpt-1", "sha"), []));
        reporter.Committed(Notice(2, generation: 2) with { TimeUnixMs = 12_500, BytesSent = 500, RankCompute = [(a, 120)] });

        var scrape = await Scrape(registry);
        Assert.Equal(1500, scrape["elastictrain_gradient_sent_bytes_total"]);
        Assert.Equal(1, scrape["elastictrain_recoveries_total"]);
        Assert.Equal(1, scrape["elastictrain_generation_pause_seconds_count"]);
        Assert.Equal(2.5, scrape["elastictrain_generation_pause_seconds_sum"], 1e-9);
        Assert.Equal(0.3, scrape["elastictrain_checkpoint_duration_seconds_sum"], 1e-9);
        Assert.Equal(0.12, scrape["elastictrain_rank_compute_seconds{rank=\"a:1/r0\"}"], 1e-9);
        Assert.DoesNotContain("elastictrain_rank_compute_seconds{rank=\"b:2/r0\"}", scrape.Values.Keys);
    }

    [Fact]
    public async Task Counters_end_in_total_and_durations_are_in_seconds()
    {
        var registry = Metrics.NewCustomRegistry();
        using var reporter = new PrometheusReporter(registry, localRanks: 1);
        var types = (await Scrape(registry)).Types.Where(t => t.Key.StartsWith("elastictrain_", StringComparison.Ordinal)).ToList();

        Assert.NotEmpty(types);
        Assert.All(types.Where(t => t.Value == "counter"), t => Assert.EndsWith("_total", t.Key));
        Assert.All(types.Where(t => t.Value != "counter"), t => Assert.DoesNotContain("_total", t.Key));
        Assert.All(types.Where(t => t.Key.Contains("duration") || t.Key.Contains("compute") || t.Key.Contains("exchange")),
            t => Assert.EndsWith("_seconds", t.Key));
    }
}
