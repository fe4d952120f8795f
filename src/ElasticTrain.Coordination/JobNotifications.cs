using ElasticTrain.Jobs;
using ElasticTrain.Ranks;

namespace ElasticTrain.Coordination;

// Published on the coordinator's node's event stream for whoever reports on the job there (the
// metrics file, the progress bar). They are facts already decided; nothing waits on them.

/// <summary>A generation is ready and the job (re)starts at <paramref name="FromStep"/>.</summary>
/// <param name="Journaled">The steps committed after the last checkpoint, as the journal has them. A
/// process killed between a commit and its report leaves the report one step short; reporters that
/// keep a record of every step fill it in from these.</param>
/// <param name="Mesh">Replicas x stages (e.g. 2x2); "" when not told.</param>
/// <param name="Stages">Each stage's pipeline layers (e.g. "[0,3) [3,6)").</param>
/// <param name="Recipe">What the optimizer, schedule and clipping are where they differ from the defaults (e.g. "lamb, cosine lr after 10 warmup steps, clip 1"); "" for the defaults.</param>
/// <param name="Members">The generation's ranks.</param>
/// <param name="Idle">Registered ranks the generation leaves out (over the scale target).</param>
/// <param name="Drained">Every rank drained from the job so far.</param>
public sealed record JobRunning(string JobId, long FromStep, long TotalSteps, long Generation, int World, CheckpointRef? ResumedFrom,
    IReadOnlyList<JournaledStep> Journaled, string Mesh = "", string Stages = "", string Recipe = "", IReadOnlyList<RankId>? Members = null,
    IReadOnlyList<RankId>? Idle = null, IReadOnlyList<RankId>? Drained = null);

/// <summary>The job cannot form a mesh of the ranks it has (e.g. fewer ranks than fixed stages): it waits for more.</summary>
public sealed record JobWaiting(string JobId, string Reason);

/// <summary>A committed step as the journal has it, with its ranks' sample ids where the journal has those.</summary>
public sealed record JournaledStep(StepCommitted Committed, RankSamples[]? Samples);

/// <param name="StepMs">Wall time from dispatch to commit.</param>
/// <param name="MaxComputeMs">The longest forward and backward of any rank.</param>
/// <param name="MaxExchangeMs">The longest time any rank spent all-reducing the step's buckets.</param>
/// <param name="ExposedMs">The exchange's exposed tail: the wait after backward of the rank that finished backward last.</param>
/// <param name="MaxWaitMs">The longest wait after backward of any rank: the exposed tail plus load imbalance.</param>
/// <param name="Bubble">A pipeline's idle fraction of its stages' spans; null without pipeline stages.</param>
/// <param name="PeakHeldBytes">The most activation bytes a pipeline stage held for backward; 0 without stages.</param>
/// <param name="GradientNorm">The L2 norm of the step's mean gradient over the whole model, before clipping.</param>
/// <param name="LearningRate">The rate the schedule gave the step.</param>
/// <param name="LossScale">fp16's loss scale for the step; null without fp16.</param>
/// <param name="Skipped">The step's gradient overflowed under fp16: every rank skipped its update.</param>
/// <param name="BytesSent">What the ranks' gradient exchanges sent for the step, summed over the ranks.</param>
/// <param name="RankCompute">Each rank's forward and backward time in the step, in milliseconds.</param>
/// <param name="Staleness">Parameter-server workers that run ahead (ssp, asp): how many committed steps the oldest values any slice was computed on lacked; null otherwise.</param>
public sealed record StepCommittedNotice(long Step, double Loss, int World, long Generation, long TimeUnixMs, double StepMs, int Samples, double MaxComputeMs, double MaxExchangeMs, double ExposedMs, double MaxWaitMs,
    double? Bubble = null, long PeakHeldBytes = 0, double? GradientNorm = null, double? LearningRate = null,
    double? LossScale = null, bool Skipped = false, long BytesSent = 0, IReadOnlyList<(RankId Rank, double ComputeMs)>? RankCompute = null,
    long? Staleness = null);

/// <summary>Which rank consumed which samples in a newly committed step (the audit trail of exactly-once data).</summary>
public sealed record StepSamples(long Step, long Generation, IReadOnlyList<(RankId Rank, int[] SampleIds)> Slices);

/// <summary>A step before the journal's high-water mark ran again after a resume.</summary>
public sealed record StepReplayed(long Step, double Loss, double? JournaledLoss, long Generation);

/// <summary>The model after <paramref name="Step"/> on the held-out windows: mean per-window loss and its exponential.</summary>
/// <param name="Samples">The held-out windows the loss is over.</param>
public sealed record EvaluationNotice(long Step, double Loss, double Perplexity, int Samples, long Generation);

/// <param name="DurationMs">From the request to the writers until the checkpoint was journaled.</param>
public sealed record CheckpointNotice(long Step, string Path, long Generation, double DurationMs = 0);

public sealed record JobFinished(string JobId, long Step, bool AlreadyFinished);

/// <summary>The job cannot go on; <paramref name="BadInput"/> when the user's input is at fault (exit 2).</summary>
public sealed record JobFailed(string Reason, bool BadInput);
