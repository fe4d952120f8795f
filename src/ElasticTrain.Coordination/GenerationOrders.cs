using Akka.Actor;
using ElasticTrain.Jobs;
using ElasticTrain.Ranks;
using ElasticTrain.Ranks.Pipeline;

namespace ElasticTrain.Coordination;

/// <summary>
/// Pure: the orders that start a generation, once it is journaled. Each member takes its place in
/// the mesh and prepares the state of its layers as the plan says; live ranks outside the
/// generation that hold layers a member needs serve them; ranks leaving by plan hand their
/// compression residuals to a member (<see cref="ResidualHandOffs"/>); drained ranks are out now,
/// and their nodes may leave, after their hand-off.
/// </summary>
public static class GenerationOrders
{
    /// <param name="handOffs">Per rank leaving by plan, the member that takes its compression residuals.</param>
    public static IEnumerable<(IActorRef To, object Order)> For(string jobId, long generation, MeshLayout mesh,
        MeshStatePlanner.Plan plan, Roster roster, IReadOnlyDictionary<RankId, RankId>? handOffs = null)
    {
        handOffs ??= new Dictionary<RankId, RankId>();
        var members = mesh.Members.Order().ToArray();
        var endpoints = members.Select(m => new RankEndpoint(m, roster[m].Endpoint, roster[m].DataPlane)).ToArray();
        var sends = plan.Sends;
        foreach (var member in members)
        {
            var leavers = handOffs.Where(h => h.Value == member).Select(h => h.Key).Order().ToArray();
            yield return (roster[member].Endpoint, new PrepareRank(generation, endpoints, mesh,
                [.. plan.Sources[member].Select(s => new LayerSource(s.Layers, s.Origin))], plan.StateStep,
                sends.TryGetValue(member, out var targets) ? [.. targets.Select(t => new StateSend(t.Member, t.Layers))] : [],
                leavers.Length > 0 ? leavers : null));
        }
        foreach (var (helper, targets) in sends.Where(s => !members.Contains(s.Key)))
            yield return (roster[helper].Endpoint, new ServeState(generation, plan.StateStep,
                [.. targets.Select(t => new ServeTarget(endpoints.First(e => e.Rank == t.Member), t.Layers))]));
        var draining = roster.Draining.ToHashSet();
        foreach (var (leaver, member) in handOffs.OrderBy(h => h.Key))
            yield return (roster[leaver].Endpoint, new HandOffResiduals(generation, plan.StateStep, endpoints.First(e => e.Rank == member),
                draining.Contains(leaver) ? new JobOver(jobId, generation, true, "drained") : null));
        foreach (var drained in draining.Where(d => !handOffs.ContainsKey(d)).Order())
            yield return (roster[drained].Endpoint, new JobOver(jobId, generation, true, "drained"));
    }
}
