using Akka.Actor;
using ElasticTrain.Jobs;
using ElasticTrain.Measurement;

namespace ElasticTrain.Coordination;

/// <summary>
/// Pure: every rank the coordinator knows of and what it knows about each (its actor, its node's
/// data plane, the step its replica holds, its measured speed), with the operators' wishes
/// (drains, the scale target) and the ranks suspected dead. From these it decides who should be
/// in the next generation. The coordinator actor feeds it messages and carries out its answers.
/// </summary>
public sealed class Roster
{
    /// <param name="StateStep">The step the rank's state is at; -1 when nothing is known.</param>
    /// <param name="Held">The layers its state holds (the whole model, or a stage's); null when nothing is known.</param>
    /// <param name="Memory">What the rank may hold, in bytes.</param>
    /// <param name="Speed">Compute samples per second, the median of its latest steps; 0 until measured.</param>
    /// <param name="Copies">State it keeps in memory at the last complete copy round: its own stage's snapshot and a neighbour's copy.</param>
    public sealed record Entry(RankId Id, IActorRef Endpoint, string DataPlane, long StateStep, LayerRange? Held, long Memory, double Speed,
        IReadOnlyList<MeshStatePlanner.Holding>? Copies = null);

    public enum Registration
    {
        /// <summary>The same actor again: the periodic re-registration.</summary>
        Known,
        /// <summary>A rank not known before.</summary>
        New,
        /// <summary>A known rank with a new actor: its node restarted it, or a new incarnation joined.</summary>
        Replaced,
        /// <summary>The rank is being drained and is never admitted again.</summary>
        Drained,
    }

    private readonly Dictionary<RankId, Entry> _ranks = [];
    private readonly HashSet<RankId> _draining = [];
    private readonly HashSet<RankId> _suspects = [];

    public int Count => _ranks.Count;

    /// <summary>The operator's scale target; 0 when every rank is used.</summary>
    public int TargetRanks { get; private set; }

    /// <summary>When a rank not known before last registered.</summary>
    public DateTime LastNewRank { get; private set; } = DateTime.MinValue;

    public IEnumerable<Entry> Entries => _ranks.Values;

    public Entry this[RankId rank] => _ranks[rank];

    public bool Contains(RankId rank) => _ranks.ContainsKey(rank);

    public Registration Register(RankId rank, IActorRef endpoint, string dataPlane, long stateStep, DateTime now) =>
        Register(rank, endpoint, dataPlane, stateStep, null, long.MaxValue, now);

    public Registration Register(RankId rank, IActorRef endpoint, string dataPlane, long stateStep, LayerRange? held, long memory, DateTime now)
    {
        if (_draining.Contains(rank)) return Registration.Drained;
        var known = _ranks.TryGetValue(rank, out var old);
        if (known && old!.Endpoint.Equals(endpoint)) return Registration.Known;
        if (!known) LastNewRank = now;
        // A new incarnation is evidence enough that the rank lives: it is no longer suspected.
        _suspects.Remove(rank);
        _ranks[rank] = stateStep >= 0
            ? new Entry(rank, endpoint, dataPlane, stateStep, held, memory, old?.Speed ?? 0)
            : new Entry(rank, endpoint, dataPlane, old?.StateStep ?? -1, old?.Held, memory, old?.Speed ?? 0);
        return known ? Registration.Replaced : Registration.New;
    }

    /// <summary>Forgets the rank whose actor this was (it stopped, or its node left); null if none.</summary>
    public RankId? Remove(IActorRef endpoint)
    {
        var gone = _ranks.Values.FirstOrDefault(e => e.Endpoint.Equals(endpoint))?.Id;
        if (gone is not null) { _ranks.Remove(gone); _suspects.Remove(gone); _recentSpeeds.Remove(gone); }
        return gone;
    }

    /// <summary>Who should be in the next generation: live ranks neither drained nor suspected, capped by the scale target, in ring order.</summary>
    public RankId[] Desired()
    {
        var usable = _ranks.Keys.Where(r => !_draining.Contains(r) && !_suspects.Contains(r)).Order();
        return (TargetRanks > 0 ? usable.Take(TargetRanks) : usable).ToArray();
    }

    /// <summary>Registered ranks outside <paramref name="members"/> that are not drained.</summary>
    public RankId[] Idle(IReadOnlyCollection<RankId> members) =>
        _ranks.Keys.Where(r => !members.Contains(r) && !_draining.Contains(r)).Order().ToArray();

    public RankId[] Draining => _draining.Where(_ranks.ContainsKey).Order().ToArray();

    /// <summary>Every rank drained from the job so far, gone or not: how a change of members tells a drain from a loss.</summary>
    public RankId[] Drained => [.. _draining.Order()];

    public IReadOnlyCollection<RankId> Suspects => _suspects;

    public OperatorReply Drain(NodeAddress node)
    {
        var ranks = _ranks.Keys.Where(r => r.Node == node).ToArray();
        if (ranks.Length == 0) return new OperatorReply(false, $"no ranks of this job run on {node}");
        if (ranks.Length == _ranks.Keys.Count(r => !_draining.Contains(r)))
            return new OperatorReply(false, $"{node} runs the job's last ranks; it cannot be drained");
        _draining.UnionWith(ranks);
        return new OperatorReply(true, $"draining {ranks.Length} rank(s) of {node} at the next step boundary");
    }

    public OperatorReply Scale(int ranks)
    {
        TargetRanks = ranks;
        var available = _ranks.Keys.Count(r => !_draining.Contains(r));
        return new OperatorReply(true, ranks == 0 || ranks >= available
            ? $"using all {available} available rank(s) from the next step boundary"
            : $"using {ranks} of {available} rank(s) from the next step boundary");
    }

    /// <summary>
    /// The rank did not answer when its generation failed: it is left out of generations until it
    /// registers as a new incarnation or <see cref="Clear"/> (the failure detector's verdict) says otherwise.
    /// </summary>
    public bool Suspect(RankId rank) => _ranks.ContainsKey(rank) && _suspects.Add(rank);

    public bool Clear(RankId rank) => _suspects.Remove(rank);

    /// <summary>The rank's state is at <paramref name="step"/>, holding <paramref name="layers"/> (null: the layers it held).</summary>
    public void HoldsState(RankId rank, long step, LayerRange? layers = null)
    {
        if (_ranks.TryGetValue(rank, out var entry)) _ranks[rank] = entry with { StateStep = step, Held = layers ?? entry.Held };
    }

    /// <summary>
    /// What the live ranks not suspected of being dead hold, their copies included: the possible
    /// sources of a new generation's state.
    /// </summary>
    public IReadOnlyCollection<(RankId Rank, MeshStatePlanner.Holding Held)> Holdings =>
    [
        .. _ranks.Values.Where(e => !_suspects.Contains(e.Id)).SelectMany(e =>
            (e.StateStep >= 0 && e.Held is { } held ? [new MeshStatePlanner.Holding(held, e.StateStep)] : Enumerable.Empty<MeshStatePlanner.Holding>())
                .Concat(e.Copies ?? []).Select(h => (e.Id, h))),
    ];

    /// <summary>The rank keeps these copies in memory now (the last complete round's), in place of any older ones.</summary>
    public void KeepsCopies(RankId rank, IReadOnlyList<MeshStatePlanner.Holding> copies)
    {
        if (_ranks.TryGetValue(rank, out var entry)) _ranks[rank] = entry with { Copies = copies };
    }

    /// <summary>A new mesh: the copies of the old one's stages are dropped.</summary>
    public void ForgetCopies()
    {
        foreach (var entry in _ranks.Values.ToList()) _ranks[entry.Id] = entry with { Copies = null };
    }

    public IReadOnlyDictionary<RankId, long> Memory => _ranks.Values.ToDictionary(e => e.Id, e => e.Memory);

    public IReadOnlyDictionary<RankId, double> Speeds =>
        _ranks.Values.Where(e => e.Speed > 0).ToDictionary(e => e.Id, e => e.Speed);

    /// <summary>How many of a rank's latest steps its speed is the median of.</summary>
    public const int SpeedWindow = 5;

    private readonly Dictionary<RankId, Queue<double>> _recentSpeeds = [];

    /// <summary>
    /// A rank's compute speed (forward and backward only: time spent waiting in the exchange says
    /// nothing about the rank): the median of its last <see cref="SpeedWindow"/> steps, so one slow
    /// step does not move samples around, while a real change does within three steps. A rank's
    /// first steps after it joins run cold (the runtime compiles as it goes, memory is mapped in):
    /// an average that remembers them (0.9 of the old figure each step, as before) kept a warmed-up
    /// newcomer on fewer samples for 30 steps and more, the step waiting on the other rank.
    /// </summary>
    public void MeasureSpeed(RankId rank, int samples, double computeMs)
    {
        if (computeMs <= 0 || samples == 0 || !_ranks.TryGetValue(rank, out var entry)) return;
        if (!_recentSpeeds.TryGetValue(rank, out var recent)) _recentSpeeds[rank] = recent = new Queue<double>(SpeedWindow + 1);
        recent.Enqueue(samples * 1000.0 / computeMs);
        if (recent.Count > SpeedWindow) recent.Dequeue();
        _ranks[rank] = entry with { Speed = Median.Of(recent) };
    }

    /// <summary>
    /// The only change from <paramref name="members"/> is newcomers, and ranks are still
    /// registering: wait a step or two, so that a node's ranks enter in one generation.
    /// </summary>
    public bool JoinersStillArriving(IReadOnlyCollection<RankId> members, IReadOnlyCollection<RankId> desired, DateTime now, TimeSpan settle) =>
        members.All(desired.Contains) && now - LastNewRank < settle;
}
