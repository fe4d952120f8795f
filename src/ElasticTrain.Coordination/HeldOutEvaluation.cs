using ElasticTrain.Data;
using ElasticTrain.Jobs;
using ElasticTrain.Ranks;
using ElasticTrain.Ranks.Pipeline;

namespace ElasticTrain.Coordination;

/// <summary>
/// Pure: one evaluation on the held-out windows, from its plan to its result. The windows are split
/// into contiguous even shares, one per replica (its first rank: a whole model), as a step's batch
/// is; each rank sums its windows' per-sample losses, and the loss is the sum over all windows
/// divided by their count: the same number whatever the world size, up to the order of float sums.
/// </summary>
public sealed class HeldOutEvaluation
{
    private readonly Dictionary<RankId, HeldOutEvaluated> _reports = [];

    private HeldOutEvaluation(long generation, StepPlan plan)
    {
        Generation = generation;
        Plan = plan;
    }

    /// <summary>
    /// The evaluation of the state after <paramref name="step"/> over <paramref name="heldOut"/>
    /// windows on <paramref name="mesh"/>: when there are fewer windows than replicas, only the
    /// first replicas take part.
    /// </summary>
    public static HeldOutEvaluation Of(long generation, long step, MeshLayout mesh, int heldOut)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(heldOut, 1);
        var shares = SliceSplit.Even(heldOut, Math.Min(heldOut, mesh.Replicas));
        return new HeldOutEvaluation(generation, new StepPlan(step, [.. shares.Select((share, r) => new RankSlice(mesh.Grid[r][0], share.Offset, share.Count))]));
    }

    public long Generation { get; }

    public StepPlan Plan { get; }

    public long Step => Plan.Step;

    public bool Complete => _reports.Count == Plan.Slices.Count;

    /// <summary>The ranks of the plan that have not answered yet.</summary>
    public IReadOnlyList<RankId> Missing => [.. Plan.Slices.Select(s => s.Rank).Where(r => !_reports.ContainsKey(r))];

    /// <summary>Records a rank's answer; false if it is not one this evaluation asked for (or of another count).</summary>
    public bool Add(HeldOutEvaluated report)
    {
        var position = Plan.PositionOf(report.Rank);
        if (report.Generation != Generation || report.Step != Step || position < 0 || Plan.Slices[position].Count != report.Samples) return false;
        _reports[report.Rank] = report;
        return true;
    }

    /// <summary>Once complete: the mean per-window loss, its perplexity, and the windows it is over.</summary>
    public (double Loss, double Perplexity, int Samples) Result()
    {
        if (!Complete) throw new InvalidOperationException($"evaluation of step {Step} still waits for {string.Join(", ", Missing)}");
        // Summed in plan order, so a rerun on the same mesh gives the same bits.
        var sum = Plan.Slices.Sum(s => _reports[s.Rank].LossSum);
        var samples = Plan.Slices.Sum(s => s.Count);
        var loss = sum / samples;
        return (loss, Math.Exp(loss), samples);
    }
}
