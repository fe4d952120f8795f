using System.Diagnostics.CodeAnalysis;
using ElasticTrain.Jobs;
using ElasticTrain.Pipeline;

namespace ElasticTrain.Coordination;

/// <summary>
/// Pure planning of the mesh: how many pipeline stages, which layers each holds, which rank runs
/// which stage of which replica, and how many micro-batches a step is cut into. The coordinator
/// plans anew at each generation (a join, a drain, a death), so a mesh is never fixed at launch.
/// </summary>
/// <remarks>
/// The estimate behind "auto" is the pipeline's makespan with every rank equally fast: a replica's
/// step takes (M + P - 1) micro-batch times of its slowest stage. Plain data parallelism (P = 1)
/// has no bubble, so it wins whenever the model fits one rank; stages come in when memory says so.
/// Ranks keep their places from the mesh before; new ones are taken in id order, which keeps a
/// replica's consecutive stages on one node where it can (activations then cross shared memory, not TCP).
/// </remarks>
public static class MeshPlanner
{
    /// <summary>Micro-batches per stage when the job leaves them to the planner: a bubble of at most 1/5.</summary>
    public const int AutoMicroBatchesPerStage = 4;

    /// <param name="rankMemory">What each rank may hold (elastictrain.parallel.rank-memory), in bytes.</param>
    /// <param name="refusal">Why no mesh can run on these ranks, when there is none.</param>
    /// <param name="keep">
    /// The current mesh's ranks, replica by replica: those still here keep their places, and
    /// newcomers fill in after them, so a join that leaves the mesh's shape alone moves no state.
    /// </param>
    public static bool TryPlan(IReadOnlyCollection<RankId> ranks, IReadOnlyDictionary<RankId, long> rankMemory, ModelProfile profile,
        int globalBatch, MeshRequest request, [NotNullWhen(true)] out Mesh? mesh, out string refusal, IEnumerable<RankId>? keep = null)
    {
        mesh = null;
        refusal = "";
        var kept = (keep ?? []).Where(ranks.Contains).ToList();
        var ordered = kept.Concat(ranks.Except(kept).Order()).ToList();
        if (request.Stages is { } fixedStages)
        {
            if (fixedStages < 1 || fixedStages > profile.Layers)
            {
                refusal = $"stages = {fixedStages}, but the model has {profile.Layers} pipeline layers (embeddings and output included)";
                return false;
            }
            if (ordered.Count < fixedStages)
            {
                refusal = $"{fixedStages} stages need at least {fixedStages} ranks; {ordered.Count} are here";
                return false;
            }
        }
        var candidates = request.Stages is { } p ? [p] : Enumerable.Range(1, Math.Min(profile.Layers, ordered.Count));
        var smallestPeak = long.MaxValue;
        foreach (var stages in candidates)
        {
            var candidate = Candidate(ordered, stages, profile, globalBatch, request);
            var memory = candidate.Grid.SelectMany(r => r).Min(r => rankMemory[r]);
            smallestPeak = Math.Min(smallestPeak, candidate.PeakStageBytes);
            if (candidate.PeakStageBytes > memory) continue;
            if (mesh is null || candidate.StepEstimate < mesh.StepEstimate) mesh = candidate;
        }
        if (mesh is not null) return true;
        var least = ordered.Min(r => rankMemory[r]);
        refusal = $"the model fits no mesh of these {ordered.Count} ranks: the smallest stage needs {Mib(smallestPeak)} MiB, "
            + $"and a rank may hold {Mib(least)} MiB (elastictrain.parallel.rank-memory)";
        return false;
    }

    private static Mesh Candidate(List<RankId> ordered, int stages, ModelProfile profile, int globalBatch, MeshRequest request)
    {
        // More replicas than samples would leave some with nothing to do: they idle instead.
        var replicas = Math.Min(ordered.Count / stages, globalBatch);
        var grid = Enumerable.Range(0, replicas)
            .Select(r => (IReadOnlyList<RankId>)ordered.GetRange(r * stages, stages)).ToList();
        var idle = ordered.Skip(replicas * stages).ToList();
        var partition = StagePartition.Balanced(profile.CostPerSample, stages);

        var slice = (globalBatch + replicas - 1) / replicas; // the largest replica's samples
        var requested = request.MicroBatches ?? (stages == 1 ? 1 : AutoMicroBatchesPerStage * stages);
        var microBatches = Math.Min(requested, slice);       // at least one sample per micro-batch
        var microSamples = (slice + microBatches - 1) / microBatches;
        var stepEstimate = StepEstimate(partition, replicas, microBatches, profile, globalBatch);
        long StateOf(int s) => Enumerable.Range(partition.FirstLayer(s), partition.EndLayer(s) - partition.FirstLayer(s)).Sum(l => profile.StateBytes[l]);
        long ActivationsOf(int s) => Enumerable.Range(partition.FirstLayer(s), partition.EndLayer(s) - partition.FirstLayer(s)).Sum(l => profile.ActivationBytesPerSample[l]);
        // Without a second replica every rank also keeps its stage's snapshot and the previous
        // stage's copy (peer copies): parameters and the two moments, 3/4 of the state.
        var copies = replicas == 1 && stages > 1;
        long peak = 0;
        for (var s = 0; s < stages; s++)
        {
            var state = StateOf(s) + (copies ? 3 * (StateOf(s) + StateOf((s + stages - 1) % stages)) / 4 : 0);
            var activations = ActivationsOf(s) * microSamples * PipelineSchedule.PeakInFlight(PipelineSchedule.For(request.Schedule, stages, microBatches, s));
            peak = Math.Max(peak, state + activations);
        }
        return new Mesh(partition, grid, idle, microBatches, request.Schedule, stepEstimate, peak);
    }

    /// <summary>
    /// A mesh's step time under <paramref name="profile"/>: (M + P - 1) micro-batch times of its
    /// costliest stage, on the largest replica's slice; what "auto" minimizes and what a re-plan
    /// for measured costs must improve on.
    /// </summary>
    public static double StepEstimate(StagePartition partition, int replicas, int microBatches, ModelProfile profile, int globalBatch)
    {
        var slice = (globalBatch + replicas - 1) / replicas;
        var microSamples = (slice + microBatches - 1) / microBatches;
        return (microBatches + partition.Stages - 1) * partition.StageCosts(profile.CostPerSample).Max() * microSamples;
    }

    private static string Mib(long bytes) => (bytes / (1024.0 * 1024.0)).ToString("0.#", System.Globalization.CultureInfo.InvariantCulture);
}
