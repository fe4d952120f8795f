using System.Collections.Immutable;
using ElasticTrain.Jobs;

namespace ElasticTrain.Ranks.ParameterServer;

/// <summary>What a shard makes of a worker's push (<see cref="ShardStepTally.Push"/>).</summary>
public enum PushVerdict
{
    /// <summary>The first slice of this worker in the step in progress: its gradients are summed.</summary>
    Counted,

    /// <summary>A slice this worker has pushed already, or one of a step already applied: dropped, so a retry is harmless.</summary>
    Repeated,

    /// <summary>A slice of a step after the one in progress (bsp never sends one): dropped.</summary>
    Ahead,
}

/// <summary>
/// The slices one step of a parameter shard waits for, as an immutable value: which workers have
/// pushed and how many samples each summed, and, once the step's planner has said so
/// (<see cref="Expect"/>), which workers the step has and its global batch. Pushes may come before
/// the plan (they travel from the workers, the plan from the planner, in no fixed order). The
/// shard actor feeds it and acts on what it says; the rules live here, tested without one.
/// </summary>
public sealed record ShardStepTally
{
    private ShardStepTally(long step, ImmutableSortedSet<RankId>? expected, int globalBatch, ImmutableSortedDictionary<RankId, int> pushed)
    {
        Step = step;
        Expected = expected;
        GlobalBatch = globalBatch;
        Pushed = pushed;
    }

    /// <summary>Nothing pushed yet and no plan, for step <paramref name="step"/>.</summary>
    public static ShardStepTally Open(long step) => new(step, null, 0, ImmutableSortedDictionary<RankId, int>.Empty);

    public long Step { get; }

    /// <summary>The step's workers; null until the planner has said.</summary>
    public ImmutableSortedSet<RankId>? Expected { get; }

    public int GlobalBatch { get; }

    /// <summary>The samples each worker that pushed has summed.</summary>
    public ImmutableSortedDictionary<RankId, int> Pushed { get; }

    /// <summary>The planner has said, and every worker it named has pushed.</summary>
    public bool Complete => Expected is { } expected && expected.All(Pushed.ContainsKey);

    /// <summary>
    /// Why the step cannot be applied as pushed, or null: a worker pushed that the plan does not
    /// name, or, once complete, the samples do not add up to the global batch (the mean would be
    /// wrong by their ratio).
    /// </summary>
    public string? Problem =>
        Expected is not { } expected ? null
        : Pushed.Keys.FirstOrDefault(w => !expected.Contains(w)) is { } stranger ? $"worker {stranger} pushed a slice of step {Step}, whose plan does not name it"
        : Complete && Pushed.Values.Sum() is var samples && samples != GlobalBatch ? $"the slices of step {Step} hold {samples} samples, not the global batch of {GlobalBatch}"
        : null;

    /// <summary>The planner's word: step <see cref="Step"/> takes a slice from each of <paramref name="workers"/>, <paramref name="globalBatch"/> samples in all.</summary>
    /// <exception cref="ArgumentException">No workers, a global batch below 1, or another plan than one already given.</exception>
    public ShardStepTally Expect(IReadOnlyCollection<RankId> workers, int globalBatch)
    {
        ArgumentNullException.ThrowIfNull(workers);
        if (workers.Count == 0) throw new ArgumentException($"Step {Step} needs at least one worker.", nameof(workers));
        ArgumentOutOfRangeException.ThrowIfLessThan(globalBatch, 1);
        var expected = workers.ToImmutableSortedSet();
        if (Expected is { } earlier && (!earlier.SetEquals(expected) || GlobalBatch != globalBatch))
            throw new ArgumentException(
                $"Step {Step} was planned for {earlier.Count} workers and {GlobalBatch} samples; a second plan for {expected.Count} workers and {globalBatch} samples is refused.",
                nameof(workers));
        return new(Step, expected, globalBatch, Pushed);
    }

    /// <summary>
    /// Counts <paramref name="worker"/>'s slice of <paramref name="step"/> once; see <see cref="PushVerdict"/>.
    /// A count of samples that is wrong (none, negative) is not refused here but shows in <see cref="Problem"/>
    /// once the step is complete: the shard actor must not throw on what a worker sends.
    /// </summary>
    public (ShardStepTally Tally, PushVerdict Verdict) Push(long step, RankId worker, int samples)
    {
        ArgumentNullException.ThrowIfNull(worker);
        if (step > Step) return (this, PushVerdict.Ahead);
        if (step < Step || Pushed.ContainsKey(worker)) return (this, PushVerdict.Repeated);
        return (new(Step, Expected, GlobalBatch, Pushed.Add(worker, samples)), PushVerdict.Counted);
    }
}
