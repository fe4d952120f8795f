using Akka.Actor;
using ElasticTrain.Jobs;
using ElasticTrain.Ranks;
using ElasticTrain.Ranks.Pipeline;

namespace ElasticTrain.Coordination;

/// <summary>
/// Pure: the orders that start a generation, once it is journaled. Each member takes its place in
/// the mesh and prepares the state of its layers as the plan says; live ranks outside the
/// generation that hold layers a member needs serve them; drained ranks are out now, and their
/// nodes may leave.
/// </summary>
public static class GenerationOrders
{
    public static IEnumerable<(IActorRef To, object Order)> For(string jobId, long generation, MeshLayout mesh,
        MeshStatePlanner.Plan plan, Roster roster)
    {
        var members = mesh.Members.Order().ToArray();
        var endpoints = members.Select(m => new RankEndpoint(m, roster[m].Endpoint, roster[m].DataPlane)).ToArray();
        var sends = plan.Sends;
        foreach (var member in members)
            yield return (roster[member].Endpoint, new PrepareRank(generation, endpoints, mesh,
                [.. plan.Sources[member].Select(s => new LayerSource(s.Layers, s.Origin))], plan.StateStep,
                sends.TryGetValue(member, out var targets) ? [.. targets.Select(t => new StateSend(t.Member, t.Layers))] : []));
        foreach (var (helper, targets) in sends.Where(s => !members.Contains(s.Key)))
            yield return (roster[helper].Endpoint, new ServeState(generation, plan.StateStep,
                [.. targets.Select(t => new ServeTarget(endpoints.First(e => e.Rank == t.Member), t.Layers))]));
        foreach (var drained in roster.Draining)
            yield return (roster[drained].Endpoint, new JobOver(jobId, generation, true, "drained"));
    }
}
