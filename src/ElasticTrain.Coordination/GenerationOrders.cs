using Akka.Actor;
using ElasticTrain.Jobs;
using ElasticTrain.Ranks;

namespace ElasticTrain.Coordination;

/// <summary>
/// Pure: the orders that start a generation, once it is journaled. Each member prepares its state
/// as the plan says; live ranks outside the generation that hold the state serve it to joiners;
/// drained ranks are out now, and their nodes may leave.
/// </summary>
public static class GenerationOrders
{
    public static IEnumerable<(IActorRef To, object Order)> For(string jobId, long generation, IReadOnlyList<RankId> members,
        GenerationPlanner.Plan plan, Roster roster)
    {
        var endpoints = members.Select(m => new RankEndpoint(m, roster[m].Endpoint, roster[m].DataPlane)).ToArray();
        foreach (var member in members)
            yield return (roster[member].Endpoint, new PrepareRank(generation, endpoints, plan.Origins[member], plan.StateStep,
                plan.Sends.TryGetValue(member, out var targets) ? targets : []));
        foreach (var (helper, targets) in plan.Sends.Where(s => !members.Contains(s.Key)))
            yield return (roster[helper].Endpoint, new ServeState(generation, plan.StateStep,
                targets.Select(t => endpoints.First(e => e.Rank == t)).ToArray()));
        foreach (var drained in roster.Draining)
            yield return (roster[drained].Endpoint, new JobOver(jobId, generation, true, "drained"));
    }
}
