using ElasticTrain.Jobs;
using ElasticTrain.Wire;

namespace ElasticTrain.Coordination;

// The job's notices in a compact form that crosses the cluster: the coordinator's node relays them
// to every node, so that any node can show the job (the web console) and keeps showing it when the
// coordinator moves. They are facts already decided; nothing waits on them.

/// <summary>One piece of news about the job, relayed to every node.</summary>
public interface IJobNews : IWireMessage;

/// <param name="TimeUnixMs">When the coordinator committed it.</param>
/// <param name="StepMs">Wall time from dispatch to commit.</param>
/// <param name="ComputeMs">The longest forward and backward of any rank.</param>
/// <param name="ExposedMs">The exchange's time not hidden behind backward.</param>
public sealed record StepNews(long Step, double Loss, int World, long Generation, long TimeUnixMs, double StepMs, int Samples,
    double ComputeMs, double ExposedMs, long BytesSent) : IJobNews;

/// <summary>A generation started: who is in it, from which step.</summary>
/// <param name="Mesh">Replicas x stages (e.g. 2x2).</param>
/// <param name="ResumedFrom">The checkpoint's step when the state came from one; null when it came from the ranks.</param>
/// <param name="Idle">Registered ranks left out of it (over the scale target).</param>
/// <param name="Stages">Each pipeline stage's layers (e.g. "[0,3) [3,6)").</param>
/// <param name="Drained">Every rank drained from the job so far.</param>
public sealed record GenerationNews(string JobId, long Generation, long FromStep, long TotalSteps, string Mesh, RankId[] Members, long? ResumedFrom,
    RankId[] Idle, string Stages = "", RankId[]? Drained = null) : IJobNews;

public sealed record EvaluationNews(long Step, double Loss) : IJobNews;

public sealed record CheckpointNews(long Step, string Path) : IJobNews;

/// <summary>The job is over: finished, or failed with the reason in <paramref name="Text"/>.</summary>
public sealed record JobEndNews(string Text, bool Failed) : IJobNews;

/// <summary>A node that starts (or rejoins) asks the others for what they have seen of the job.</summary>
public sealed record JobHistoryWanted : IWireMessage
{
    public static readonly JobHistoryWanted Instance = new();
}

/// <summary>A generation change as the console marks it on the curve.</summary>
/// <param name="Text">Who joined or left (e.g. "+ 127.0.0.1:4001 (2 ranks)"), or why it started.</param>
/// <param name="Stages">Each pipeline stage's layers (e.g. "[0,3) [3,6)").</param>
public sealed record MarkedGeneration(long Generation, long FromStep, int World, string Mesh, RankId[] Members, string Text, string Stages = "") : IWireMessage;

/// <summary>Everything a node has seen of the job: its answer to <see cref="JobHistoryWanted"/>.</summary>
public sealed record JobHistory(string JobId, long TotalSteps, StepNews[] Steps, MarkedGeneration[] Marks, EvaluationNews[] Evaluations,
    CheckpointNews[] Checkpoints, JobEndNews? End) : IWireMessage;
