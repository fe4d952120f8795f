using ElasticTrain.Jobs;
using ElasticTrain.Ranks;

namespace ElasticTrain.Coordination;

/// <summary>
/// Pure: where each member of a new mesh takes the state (parameters and optimizer state, keyed by
/// name) of the layers it will hold, whatever the old mesh was. A member keeps the layers it already
/// holds at the committed step and copies each other layer from a live rank that holds it, spreading
/// the copies over the holders; so a 2x2 mesh that becomes 1x4 moves only the layers that changed
/// hands. Only when some layer has no live holder at the committed step does everyone load the last
/// checkpoint (a mesh must start from one step), and without one, the seed.
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
    public static Plan Decide(IReadOnlyDictionary<RankId, LayerRange> needs, IReadOnlyDictionary<RankId, Holding> live, long committedStep, CheckpointRef? checkpoint)
    {
        if (needs.Count == 0) throw new ArgumentException("a generation needs at least one rank");
        var members = needs.Keys.Order().ToList();
        // Members that hold state serve first, then live ranks leaving the mesh.
        var holders = live.Where(h => committedStep > 0 && h.Value.Step == committedStep)
            .OrderBy(h => needs.ContainsKey(h.Key) ? 0 : 1).ThenBy(h => h.Key)
            .Select(h => (Rank: h.Key, h.Value.Layers)).ToList();
        var needed = members.SelectMany(m => needs[m].All()).Distinct();
        if (holders.Count == 0 || !needed.All(layer => holders.Any(h => h.Layers.Contains(layer))))
        {
            StateOrigin everyone = checkpoint is null ? new InitFromSeed() : new LoadCheckpoint(checkpoint);
            return new Plan(checkpoint?.Step ?? 0,
                members.ToDictionary(m => m, m => (IReadOnlyList<Source>)[new Source(needs[m], everyone)]));
        }

        var served = holders.ToDictionary(h => h.Rank, _ => 0); // layers each holder sends, to spread the copies
        var sources = new Dictionary<RankId, IReadOnlyList<Source>>();
        foreach (var member in members)
        {
            var own = live.TryGetValue(member, out var holding) && holding.Step == committedStep ? holding.Layers : (LayerRange?)null;
            var segments = new List<Source>();
            RankId? current = null;
            foreach (var layer in needs[member].All())
            {
                StateOrigin origin;
                if (own?.Contains(layer) == true)
                {
                    origin = new KeepState();
                    current = null;
                }
                else
                {
                    // Stay with the peer already sending the layers before this one, if it holds this one too.
                    if (current is not { } peer || !holders.Single(h => h.Rank == peer).Layers.Contains(layer))
                        peer = holders.Where(h => h.Layers.Contains(layer)).MinBy(h => served[h.Rank]).Rank;
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
        return new Plan(committedStep, sources);
    }
}
