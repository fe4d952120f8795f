using ElasticTrain.Jobs;
using ElasticTrain.ParameterServer;
using ElasticTrain.Ranks;

namespace ElasticTrain.Coordination;

// ssp and asp: the workers of a parameter server are handed the steps after the current one, up
// to a window, and compute them on the values they hold; the steps are still committed whole and
// in order. What they report before their step is current waits here.
public sealed partial class Coordinator
{
    /// <summary>ssp and asp: the most steps after the current one that workers may be computing, on values up to that many steps old.</summary>
    private const int AspWindow = 4;

    private readonly SortedDictionary<long, StepPlan> _ahead = []; // steps handed to workers ahead of the current one
    private readonly List<StepExchanged> _early = [];              // their reports, come before their step is current

    /// <summary>
    /// How many steps after the current one the workers may compute: none under bsp, the staleness
    /// under ssp (a worker computing step k then holds the values of step k - 1 - s at least: it
    /// pulled them, since the coordinator hands out step k only once step k - 1 - s is committed),
    /// and under asp <see cref="AspWindow"/>: no bound the math asks for. A shard applies whole
    /// global-batch steps in order, so a worker gains nothing by computing further ahead than the
    /// commits go: each step ahead is a model-sized gradient it keeps, computed on older values.
    /// </summary>
    private int Window => _setup.Training.ParameterServer!.Consistency switch
    {
        Consistency.Ssp => _setup.Training.ParameterServer.Staleness,
        Consistency.Asp => AspWindow,
        _ => 0,
    };

    /// <summary>Hands the workers the steps after <paramref name="current"/> up to the window, each planned once.</summary>
    private void RunAhead(long current)
    {
        for (var step = current + 1; step <= Math.Min(current + Window, Job.Steps); step++)
        {
            if (_ahead.ContainsKey(step)) continue;
            var plan = StepPlanner.Plan(step, _mesh!, Job.GlobalBatch, _roster.Speeds);
            _ahead[step] = plan;
            SendStep(plan);
        }
    }

    /// <summary>The reports of <paramref name="step"/> that came before it was current.</summary>
    private List<StepExchanged> TakeEarly(long step)
    {
        var early = _early.Where(e => e.Step == step).ToList();
        _early.RemoveAll(e => e.Step <= step);
        return early;
    }

    /// <summary>A new generation plans its steps afresh: what was handed out ahead runs again.</summary>
    private void ForgetAhead()
    {
        _ahead.Clear();
        _early.Clear();
    }

    /// <summary>How many committed steps the oldest values a slice of the step was computed on lacked (ssp, asp); null otherwise.</summary>
    private long? StalenessOf(StepTally tally) =>
        ParameterServerMode && Window > 0 ? tally.Reports.Max(r => r.BasedOn >= 0 ? tally.Step - 1 - r.BasedOn : 0) : null;
}
