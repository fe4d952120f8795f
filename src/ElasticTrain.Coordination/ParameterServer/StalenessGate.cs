using System.Collections.Immutable;
using ElasticTrain.Jobs;
using ElasticTrain.ParameterServer;

namespace ElasticTrain.Coordination.ParameterServer;

/// <summary>
/// Pure: the clock of parameter-server workers under <see cref="Consistency"/>. It knows each
/// worker's last completed step and the step it runs, and answers whether a worker may start a
/// step: under bsp only the slowest worker's next step (lockstep), under ssp(s) up to s steps
/// beyond it, under asp any. Each change returns a new gate; the one who drives the workers keeps
/// the latest and asks it.
/// </summary>
/// <remarks>
/// A worker that joins starts at <see cref="Slowest"/>, so it holds nobody back that was not held
/// already; a worker that leaves no longer holds anyone back, and its step in flight is forgotten
/// (what it pushed is the shards' business). <see cref="Slowest"/> never goes back: with no worker
/// left it stays where the last one was. <see cref="LargestStaleness"/> is how far beyond the
/// slowest worker's next step any start has run, for instrumentation: 0 under bsp, at most s under
/// ssp, unbounded under asp.
/// </remarks>
public sealed class StalenessGate
{
    private sealed record Progress(long Completed, long? Running);

    private readonly ImmutableSortedDictionary<RankId, Progress> _workers;
    private readonly long _floor;

    private StalenessGate(Consistency mode, int staleness, ImmutableSortedDictionary<RankId, Progress> workers, long floor, long largestStaleness)
    {
        Mode = mode;
        Staleness = staleness;
        _workers = workers;
        _floor = floor;
        LargestStaleness = largestStaleness;
    }

    /// <param name="staleness">How many steps beyond the slowest worker's next step a start may be; ssp only (0 under ssp is bsp).</param>
    /// <param name="workers">The workers at the start, each having completed <paramref name="completed"/>.</param>
    /// <param name="completed">The step every worker has completed: 0 for a new job, the committed step for a resumed one.</param>
    /// <exception cref="ArgumentException">A negative staleness, a staleness for bsp or asp, a negative step, or a worker given twice.</exception>
    public StalenessGate(Consistency mode, int staleness, IEnumerable<RankId> workers, long completed = 0)
    {
        ArgumentNullException.ThrowIfNull(workers);
        if (!Enum.IsDefined(mode))
            throw new ArgumentException($"Unknown consistency {mode}.", nameof(mode));
        if (staleness < 0)
            throw new ArgumentException($"Staleness {staleness} is negative; ssp needs 0 or more steps.", nameof(staleness));
        if (mode != Consistency.Ssp && staleness != 0)
            throw new ArgumentException($"{mode} has no staleness bound (given {staleness}): only ssp takes one.", nameof(staleness));
        if (completed < 0)
            throw new ArgumentException($"Completed step {completed} is negative.", nameof(completed));
        var builder = ImmutableSortedDictionary.CreateBuilder<RankId, Progress>();
        foreach (var worker in workers)
            if (!builder.TryAdd(worker, new Progress(completed, null)))
                throw new ArgumentException($"Worker {worker} is given twice.", nameof(workers));
        Mode = mode;
        Staleness = staleness;
        _workers = builder.ToImmutable();
        _floor = completed;
    }

    public Consistency Mode { get; }

    /// <summary>ssp's bound; 0 for bsp and asp.</summary>
    public int Staleness { get; }

    /// <summary>The largest staleness of any start so far (see the remarks).</summary>
    public long LargestStaleness { get; }

    public IReadOnlyCollection<RankId> Workers => _workers.Keys.ToList();

    /// <summary>The slowest worker's last completed step (where the last one was, when none is left).</summary>
    public long Slowest => _workers.IsEmpty ? _floor : _workers.Values.Min(p => p.Completed);

    /// <summary>The last step <paramref name="worker"/> completed.</summary>
    public long CompletedBy(RankId worker) => Of(worker).Completed;

    /// <summary>The step <paramref name="worker"/> runs, if any.</summary>
    public long? RunningBy(RankId worker) => Of(worker).Running;

    /// <summary>
    /// Whether <paramref name="worker"/> may start <paramref name="step"/> now: bsp, step &lt;= slowest + 1;
    /// ssp(s), step &lt;= slowest + 1 + s; asp, always. Says nothing of whether it is the worker's next step (<see cref="Started"/> checks that).
    /// </summary>
    /// <exception cref="ArgumentException">A worker the gate does not know.</exception>
    public bool MayStart(RankId worker, long step)
    {
        Of(worker);
        return Mode == Consistency.Asp || step <= Slowest + 1 + Staleness;
    }

    /// <summary><paramref name="worker"/> starts <paramref name="step"/>, its next step, which the gate allows.</summary>
    /// <exception cref="ArgumentException">An unknown worker, one already running a step, a step other than its next, or one the gate does not allow yet.</exception>
    public StalenessGate Started(RankId worker, long step)
    {
        var progress = Of(worker);
        if (progress.Running is { } running)
            throw new ArgumentException($"Worker {worker} starts step {step} while it runs step {running}.", nameof(step));
        if (step != progress.Completed + 1)
            throw new ArgumentException($"Worker {worker} completed step {progress.Completed}: its next step is {progress.Completed + 1}, not {step}.", nameof(step));
        if (!MayStart(worker, step))
            throw new ArgumentException(
                $"Worker {worker} may not start step {step}: the slowest worker completed step {Slowest} and {Describe()} allows at most step {Slowest + 1 + Staleness}.", nameof(step));
        return new(Mode, Staleness, _workers.SetItem(worker, progress with { Running = step }), _floor,
            Math.Max(LargestStaleness, step - (Slowest + 1)));
    }

    /// <summary><paramref name="worker"/> completed <paramref name="step"/>, the step it runs.</summary>
    /// <exception cref="ArgumentException">An unknown worker, or one not running this step.</exception>
    public StalenessGate Completed(RankId worker, long step)
    {
        var progress = Of(worker);
        if (progress.Running != step)
            throw new ArgumentException(
                $"Worker {worker} completes step {step}, but it runs {(progress.Running is { } r ? $"step {r}" : "no step")}.", nameof(step));
        return With(_workers.SetItem(worker, new Progress(step, null)));
    }

    /// <summary><paramref name="worker"/> joins, as having completed <see cref="Slowest"/>'s step.</summary>
    /// <exception cref="ArgumentException">A worker the gate already has.</exception>
    public StalenessGate Joined(RankId worker)
    {
        ArgumentNullException.ThrowIfNull(worker);
        if (_workers.ContainsKey(worker))
            throw new ArgumentException($"Worker {worker} joins, but it is already here.", nameof(worker));
        return With(_workers.Add(worker, new Progress(Slowest, null)));
    }

    /// <summary><paramref name="worker"/> leaves; the others no longer wait for it.</summary>
    /// <exception cref="ArgumentException">A worker the gate does not know.</exception>
    public StalenessGate Left(RankId worker)
    {
        Of(worker);
        return With(_workers.Remove(worker));
    }

    public override string ToString() =>
        $"{Describe()}: slowest at step {Slowest}, largest staleness {LargestStaleness}, "
        + string.Join(", ", _workers.Select(w => $"{w.Key} {w.Value.Completed}{(w.Value.Running is { } r ? $" (running {r})" : "")}"));

    /// <summary>The slowest step only grows: it becomes the floor a gate with no worker keeps.</summary>
    private StalenessGate With(ImmutableSortedDictionary<RankId, Progress> workers) =>
        new(Mode, Staleness, workers, Slowest, LargestStaleness);

    private Progress Of(RankId worker)
    {
        ArgumentNullException.ThrowIfNull(worker);
        return _workers.TryGetValue(worker, out var progress)
            ? progress
            : throw new ArgumentException($"Worker {worker} is not one of the gate's workers.", nameof(worker));
    }

    private string Describe() => Mode == Consistency.Ssp ? $"ssp({Staleness})" : Mode.ToString().ToLowerInvariant();
}
