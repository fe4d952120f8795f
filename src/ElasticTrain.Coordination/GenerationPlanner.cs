using ElasticTrain.Jobs;
using ElasticTrain.Ranks;

namespace ElasticTrain.Coordination;

/// <summary>
/// Pure: how the members of a new generation get their state, and which step the generation
/// starts at. Live state beats disk: ranks whose replica is at the last committed step keep it and
/// serve the others (round-robin over those sources). Live ranks outside the generation (being
/// drained, or idle under a scale target) serve too when they hold that state, after the members
/// that do. Only when no live rank holds it does the generation fall back to the last checkpoint,
/// and then to the seed.
/// </summary>
public static class GenerationPlanner
{
    /// <param name="Origins">Per member: keep, copy from a peer, load the checkpoint, or start from the seed.</param>
    /// <param name="Sends">Per source (a member, or a live rank outside the generation): the members it sends its state to.</param>
    /// <param name="StateStep">The step every member's state is at once prepared; the generation resumes at the next.</param>
    public sealed record Plan(long StateStep, IReadOnlyDictionary<RankId, StateOrigin> Origins, IReadOnlyDictionary<RankId, RankId[]> Sends)
    {
        public long ResumeStep => StateStep + 1;
    }

    /// <param name="members">The generation's ranks.</param>
    /// <param name="stateSteps">What each rank's replica is known to hold (absent: nothing known, e.g. a new rank).</param>
    /// <param name="others">Live ranks that are not members, which may serve their state.</param>
    public static Plan Decide(IReadOnlyList<RankId> members, IReadOnlyDictionary<RankId, long> stateSteps, long committedStep, CheckpointRef? checkpoint,
        IReadOnlyCollection<RankId>? others = null)
    {
        if (members.Count == 0) throw new ArgumentException("a generation needs at least one rank");
        var ordered = members.Order().ToArray();
        bool Holds(RankId rank) => stateSteps.TryGetValue(rank, out var s) && s == committedStep;
        var sources = committedStep == 0 ? [] : ordered.Where(Holds)
            .Concat((others ?? []).Where(o => !ordered.Contains(o) && Holds(o)).Order()).ToArray();
        if (sources.Length > 0)
        {
            var origins = new Dictionary<RankId, StateOrigin>();
            var sends = sources.ToDictionary(s => s, _ => new List<RankId>());
            int next = 0;
            foreach (var member in ordered)
            {
                if (sources.Contains(member)) { origins[member] = new KeepState(); continue; }
                var source = sources[next++ % sources.Length];
                origins[member] = new CopyFromPeer(source);
                sends[source].Add(member);
            }
            return new Plan(committedStep, origins, sends.Where(s => s.Value.Count > 0).ToDictionary(s => s.Key, s => s.Value.ToArray()));
        }
        StateOrigin everyone = checkpoint is null ? new InitFromSeed() : new LoadCheckpoint(checkpoint);
        return new Plan(checkpoint?.Step ?? 0, ordered.ToDictionary(m => m, _ => everyone), new Dictionary<RankId, RankId[]>());
    }
}
