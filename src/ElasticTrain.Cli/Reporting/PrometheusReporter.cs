using ElasticTrain.Coordination;
using Prometheus;

namespace ElasticTrain.Cli.Reporting;

/// <summary>
/// The job's progress as Prometheus metrics, in a registry of its own (one per HTTP server, so
/// that jobs run side by side in one test process never share a series). The job-level series
/// move only on the node where the coordinator runs, since the notices are published there; after
/// a failover the new coordinator's node takes over and the old one's stop moving. Durations are in
/// seconds, as Prometheus names them.
/// </summary>
public sealed class PrometheusReporter : IJobReporter
{
    private readonly SamplesRate _rate = new();
    private readonly Counter _committed;
    private readonly Gauge _step;
    private readonly Gauge _totalSteps;
    private readonly Gauge _loss;
    private readonly Gauge _world;
    private readonly Gauge _generation;
    private readonly Counter _generationChanges;
    private readonly Histogram _stepDuration;
    private readonly Gauge _compute;
    private readonly Gauge _exchange;
    private readonly Gauge _exposed;
    private readonly Gauge _samplesPerSecond;
    private readonly Counter _replayed;
    private readonly Counter _checkpoints;
    private readonly Gauge _checkpointStep;
    private readonly Gauge _validationLoss;
    private readonly Counter _bytesSent;
    private readonly Counter _recoveries;
    private readonly Histogram _pause;
    private readonly Histogram _checkpointDuration;
    private readonly Gauge _rankCompute;
    private HashSet<string> _ranksShown = [];
    private long _lastCommitMs;
    private bool _paused;

    /// <param name="localRanks">The ranks this node hosts: a per-node gauge, set at once.</param>
    public PrometheusReporter(CollectorRegistry registry, int localRanks)
    {
        var metrics = Metrics.WithCustomRegistry(registry);
        _committed = metrics.CreateCounter("elastictrain_steps_committed_total", "Steps committed since this node's coordinator started (replays excluded).");
        _step = metrics.CreateGauge("elastictrain_step", "The last committed step.");
        _totalSteps = metrics.CreateGauge("elastictrain_job_steps", "The job's total steps: it ends when elastictrain_step reaches them.");
        _loss = metrics.CreateGauge("elastictrain_loss", "The last committed step's mean training loss.");
        _world = metrics.CreateGauge("elastictrain_world_size", "Ranks in the current generation.");
        _generation = metrics.CreateGauge("elastictrain_generation", "The current generation (membership epoch).");
        _generationChanges = metrics.CreateCounter("elastictrain_generation_changes_total", "Generations started (a start, resume, join, drain or death each starts one).");
        // Buckets from 10 ms to about 80 s: a tiny test model to a large model on CPU.
        _stepDuration = metrics.CreateHistogram("elastictrain_step_duration_seconds", "Wall time of a step from dispatch to commit.",
            new HistogramConfiguration { Buckets = Histogram.ExponentialBuckets(0.01, 2, 14) });
        _compute = metrics.CreateGauge("elastictrain_step_compute_seconds", "The last step's longest forward and backward of any rank.");
        _exchange = metrics.CreateGauge("elastictrain_step_exchange_seconds", "The last step's longest gradient exchange of any rank (mostly hidden behind backward).");
        _exposed = metrics.CreateGauge("elastictrain_step_exposed_exchange_seconds", "The last step's exchange time not hidden behind backward.");
        _samplesPerSecond = metrics.CreateGauge("elastictrain_samples_per_second", "Training samples per second since the current generation started.");
        _replayed = metrics.CreateCounter("elastictrain_steps_replayed_total", "Steps run again after a resume from a checkpoint.");
        _checkpoints = metrics.CreateCounter("elastictrain_checkpoints_total", "Checkpoints written.");
        _checkpointStep = metrics.CreateGauge("elastictrain_checkpoint_step", "The step of the last checkpoint written.");
        _validationLoss = metrics.CreateGauge("elastictrain_validation_loss", "The last evaluation's mean loss on the held-out windows (eval-every).");
        _bytesSent = metrics.CreateCounter("elastictrain_gradient_sent_bytes_total", "Bytes the ranks' gradient exchanges sent, summed over the ranks.");
        _recoveries = metrics.CreateCounter("elastictrain_recoveries_total", "Generations whose state was loaded from a checkpoint: a resume after the job or a stage's every copy was lost.");
        // 0.1 s to about 7 min: a drain at a step boundary to a failure noticed by the detector and a resume.
        _pause = metrics.CreateHistogram("elastictrain_generation_pause_seconds",
            "From the last commit before a generation change (join, drain, scale, failure) to the first after it, where the coordinator stayed on this node (a move of the coordinator is not timed).",
            new HistogramConfiguration { Buckets = Histogram.ExponentialBuckets(0.1, 2, 13) });
        _checkpointDuration = metrics.CreateHistogram("elastictrain_checkpoint_duration_seconds", "From asking the writers for a checkpoint until it is journaled.",
            new HistogramConfiguration { Buckets = Histogram.ExponentialBuckets(0.01, 2, 14) });
        _rankCompute = metrics.CreateGauge("elastictrain_rank_compute_seconds", "Each rank's forward and backward in the last step.",
            new GaugeConfiguration { LabelNames = ["rank"] });
        metrics.CreateGauge("elastictrain_node_ranks", "Ranks hosted by this node.").Set(localRanks);
        // The process's own CPU, memory, GC and thread figures (process_*, dotnet_*), per node and collected only at a scrape.
        DotNetStats.Register(registry);
    }

    public void Running(JobRunning r)
    {
        _rate.Reset();
        _totalSteps.Set(r.TotalSteps);
        _world.Set(r.World);
        _generation.Set(r.Generation);
        _generationChanges.Inc();
        // The pause is the gap in commits around the change, when this node saw the commit before it.
        _paused = _lastCommitMs > 0;
        if (r.ResumedFrom is { } checkpoint)
        {
            _checkpointStep.Set(checkpoint.Step);
            _recoveries.Inc();
        }
    }

    public void Committed(StepCommittedNotice s)
    {
        _rate.Add(s.Samples);
        _committed.Inc();
        _step.Set(s.Step);
        _loss.Set(s.Loss);
        _world.Set(s.World);
        _generation.Set(s.Generation);
        _stepDuration.Observe(s.StepMs / 1000);
        _compute.Set(s.MaxComputeMs / 1000);
        _exchange.Set(s.MaxExchangeMs / 1000);
        _exposed.Set(s.ExposedMs / 1000);
        _samplesPerSecond.Set(_rate.PerSecond);
        _bytesSent.Inc(s.BytesSent);
        if (_paused && s.TimeUnixMs >= _lastCommitMs) _pause.Observe((s.TimeUnixMs - _lastCommitMs) / 1000.0);
        _paused = false;
        _lastCommitMs = s.TimeUnixMs;
        ShowRanks(s.RankCompute ?? []);
    }

    /// <summary>Each rank of the step gets its series; a rank no longer in the job loses its own.</summary>
    private void ShowRanks(IReadOnlyList<(Jobs.RankId Rank, double ComputeMs)> ranks)
    {
        var shown = new HashSet<string>();
        foreach (var (rank, ms) in ranks)
        {
            var label = rank.ToString();
            _rankCompute.WithLabels(label).Set(ms / 1000);
            shown.Add(label);
        }
        foreach (var gone in _ranksShown.Except(shown)) _rankCompute.RemoveLabelled(gone);
        _ranksShown = shown;
    }

    public void Replayed(StepReplayed s) => _replayed.Inc();

    public void Evaluated(EvaluationNotice e) => _validationLoss.Set(e.Loss);

    public void Checkpointed(CheckpointNotice c)
    {
        _checkpoints.Inc();
        _checkpointStep.Set(c.Step);
        if (c.DurationMs > 0) _checkpointDuration.Observe(c.DurationMs / 1000);
    }
}
