using ElasticTrain.Jobs;
using ElasticTrain.Ranks;

namespace ElasticTrain.Coordination;

/// <summary>
/// Pure: where each member of a new mesh takes the state (parameters and optimizer state, keyed by
/// name) of the layers it will hold, whatever the old mesh was. A member keeps the layers it already
/// holds at the committed step and copies each other layer from a live rank that holds it, spreading
/// the copies over the holders; so a 2x2 mesh that becomes 1x4 moves only the layers that changed
/// hands. When some layer has no live holder at the committed step, the mesh starts from the latest
/// step at which live ranks (or their in-memory copies) hold every layer; only when there is none
/// since the last checkpoint does everyone load that checkpoint (a mesh must start from one step),
/// and without one, the seed.
/// </summary>
/// <remarks>
/// With every rank holding every layer (data parallelism) this is the plan of
/// <see cref="GenerationPlanner"/>: holders keep, newcomers copy from them in turn.
/// </remarks>
public static class MeshStatePlanner
{
    /// <summary>What a live rank holds: the layers of its replica or stage, at a step.</summary>
    public sealed record Holding(LayerRange Layers, long Step);

    /// <summary>Where a member takes some of its layers from.</summary>
    public sealed record Source(LayerRange Layers, StateOrigin Origin);

    /// <param name="StateStep">The step every member's state is at once prepared; the generation resumes at the next.</param>
    /// <param name="Sources">Per member, its layers in order, each range with its origin.</param>
    public sealed record Plan(long StateStep, IReadOnlyDictionary<RankId, IReadOnlyList<Source>> Sources)
    {
        public long ResumeStep => StateStep + 1;

        /// <summary>Per live rank that serves state: which member gets which of its layers.</summary>
        public IReadOnlyDictionary<RankId, IReadOnlyList<(RankId Member, LayerRange Layers)>> Sends =>
            Sources.SelectMany(m => m.Value.Where(s => s.Origin is CopyFromPeer).Select(s => (Peer: ((CopyFromPeer)s.Origin).Peer, m.Key, s.Layers)))
                .GroupBy(t => t.Peer)
                .ToDictionary(g => g.Key, g => (IReadOnlyList<(RankId, LayerRange)>)[.. g.OrderBy(t => t.Key).Select(t => (t.Key, t.Layers))]);
    }

    /// <param name="needs">The new mesh: the layers each member will hold.</param>
    /// <param name="live">What live ranks hold (members and ranks leaving the mesh alike); absent: nothing.</param>
    public static Plan Decide(IReadOnlyDictionary<RankId, LayerRange> needs, IReadOnlyDictionary<RankId, Holding> live, long committedStep, CheckpointRef? checkpoint) =>
        Decide(needs, [.. live.Select(h => (h.Key, h.Value))], committedStep, checkpoint);

    /// <summary>
    /// As above, where a live rank may hold state at several steps: its model part at the last step
    /// it applied, and the in-memory copies kept for pipelines without a second replica (its own
    /// stage and a neighbour's, at the last copy step). The generation starts from the latest step,
    /// no older than the checkpoint, at which live ranks hold every layer: the committed step when
    /// nothing was lost, a copy step when a stage's only holder died (the steps after it run again).
    /// </summary>
    public static Plan Decide(IReadOnlyDictionary<RankId, LayerRange> needs, IReadOnlyCollection<(RankId Rank, Holding Held)> live, long committedStep,
        CheckpointRef? checkpoint)
    {
        if (needs.Count == 0) throw new ArgumentException("a generation needs at least one rank");
        var members = needs.Keys.Order().ToList();
        var needed = members.SelectMany(m => needs[m].All()).Distinct().ToList();
        var candidates = live.Select(h => h.Held.Step)
            .Where(step => step > 0 && step <= committedStep && step >= (checkpoint?.Step ?? 1)).Distinct().OrderDescending();
        foreach (var step in candidates)
        {
            var held = live.Where(h => h.Held.Step == step).GroupBy(h => h.Rank)
                .ToDictionary(g => g.Key, g => g.Select(h => h.Held.Layers).ToList());
            if (needed.All(layer => held.Values.Any(ranges => ranges.Any(r => r.Contains(layer)))))
                return PlanAt(step, members, needs, held);
        }
        StateOrigin everyone = checkpoint is null ? new InitFromSeed() : new LoadCheckpoint(checkpoint);
        return new Plan(checkpoint?.Step ?? 0,
            members.ToDictionary(m => m, m => (IReadOnlyList<Source>)[new Source(needs[m], everyone)]));
    }

    /// <summary>Every layer is held at <paramref name="step"/>: members keep what they hold and copy the rest, spreading the copies over the holders.</summary>
    private static Plan PlanAt(long step, List<RankId> members, IReadOnlyDictionary<RankId, LayerRange> needs, Dictionary<RankId, List<LayerRange>> held)
    {
        bool Holds(RankId rank, int layer) => held.TryGetValue(rank, out var ranges) && ranges.Any(r => r.Contains(layer));
        // Members that hold state serve first, then live ranks leaving the mesh.
        var holders = held.Keys.OrderBy(r => needs.ContainsKey(r) ? 0 : 1).ThenBy(r => r).ToList();
        var served = holders.ToDictionary(h => h, _ => 0); // layers each holder sends, to spread the copies
        var sources = new Dictionary<RankId, IReadOnlyList<Source>>();
        foreach (var member in members)
        {
            var segments = new List<Source>();
            RankId? current = null;
            foreach (var layer in needs[member].All())
            {
                StateOrigin origin;
                if (Holds(member, layer))
                {
                    origin = new KeepState();
                    current = null;
                }
                else
                {
                    // Stay with the peer already sending the layers before this one, if it holds this one too.
                    if (current is not { } peer || !Holds(peer, layer))
                        peer = holders.Where(h => Holds(h, layer)).MinBy(h => served[h])!;
                    served[peer]++;
                    current = peer;
                    origin = new CopyFromPeer(peer);
                }
                if (segments.Count > 0 && segments[^1].Origin == origin && segments[^1].Layers.End == layer)
                    segments[^1] = segments[^1] with { Layers = segments[^1].Layers with { End = layer + 1 } };
                else
                    segments.Add(new Source(new LayerRange(layer, layer + 1), origin));
            }
            sources[member] = segments;
        }
        return new Plan(step, sources);
    }
}
