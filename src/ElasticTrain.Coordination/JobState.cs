using ElasticTrain.Jobs;
using ElasticTrain.Ranks;
using ElasticTrain.Wire;

namespace ElasticTrain.Coordination;

/// <summary>
/// The coordinator's durable state: a pure fold over its journal (<see cref="Updated"/>), also
/// saved as a snapshot with each checkpoint so recovery reads a short tail.
/// </summary>
/// <param name="CommittedStep">The highest step ever committed (by this run or an earlier one).</param>
/// <param name="LossesSinceCheckpoint">Committed losses after <paramref name="LastCheckpoint"/>: the steps
/// a resume replays, kept to check the replay reproduces them.</param>
/// <param name="CompletedAt">The step at which the job last completed, 0 if never.</param>
public sealed record JobState(
    JobConfig? Config,
    string? IdentityHash,
    long Generation,
    long CommittedStep,
    CheckpointRef? LastCheckpoint,
    StepCommitted[] LossesSinceCheckpoint,
    long CompletedAt) : IWireMessage
{
    public static readonly JobState Empty = new(null, null, 0, 0, null, [], 0);

    public JobState Updated(IJobEvent e) => e switch
    {
        JobStarted started => this with { Config = started.Config, IdentityHash = started.IdentityHash },
        GenerationStarted generation => this with { Generation = generation.Generation },
        StepCommitted committed when committed.Step > CommittedStep => this with
        {
            CommittedStep = committed.Step,
            LossesSinceCheckpoint = [.. LossesSinceCheckpoint, committed],
        },
        StepCommitted => this, // a replayed step is never journaled twice; tolerate it on replay anyway
        CheckpointTaken taken => this with
        {
            LastCheckpoint = taken.Checkpoint,
            LossesSinceCheckpoint = [.. LossesSinceCheckpoint.Where(s => s.Step > taken.Checkpoint.Step)],
        },
        JobCompleted completed => this with { CompletedAt = completed.Step },
        GradientOverflowed => this, // kept beside the state, and in its snapshot (JobSnapshot): its shape stays
        StepSampled => this, // kept beside the state, for reporters (JournaledSamples)
        _ => throw new ArgumentException($"unknown job event {e.GetType().Name}"),
    };

    /// <summary>The loss journaled for <paramref name="step"/>, if it is one a resume replays.</summary>
    public double? JournaledLoss(long step) =>
        LossesSinceCheckpoint.FirstOrDefault(s => s.Step == step)?.Loss;
}
