using ElasticTrain.Jobs;
using ElasticTrain.Pipeline;
using ElasticTrain.Ranks.Pipeline;
using ElasticTrain.Wire;

namespace ElasticTrain.Coordination;

/// <summary>
/// What the job asks of the mesh (<c>elastictrain.parallel.*</c>); null means auto. Not part of
/// the job's identity (the curve does not depend on it); a joining node learns it with the job.
/// </summary>
/// <param name="Stages">Pipeline stages P, or null: the fastest mesh that fits the ranks' memory.</param>
/// <param name="MicroBatches">Micro-batches per step and replica, or null: four per stage, at most one sample each.</param>
/// <param name="RankMemory">What one rank may hold, in bytes, or null: each process's available memory divided among its ranks.</param>
/// <param name="PeerCopyEvery">Steps between the in-memory copies ranks keep of another rank's stage (pipelines with one replica).</param>
public sealed record MeshRequest(int? Stages, int? MicroBatches, ScheduleKind Schedule, long? RankMemory = null, int PeerCopyEvery = 1) : IWireMessage
{
    public static MeshRequest Auto { get; } = new(null, null, ScheduleKind.OneFOneB);
}

/// <summary>
/// The job's mesh for one generation: <see cref="Replicas"/> copies of a pipeline of
/// <see cref="Partition"/>.Stages stages; the rank of replica r, stage s is <c>Grid[r][s]</c>.
/// Ranks left over (fewer than a whole pipeline) are <see cref="Idle"/>.
/// </summary>
/// <param name="StepEstimate">Estimated step time, in the unit of the profile's costs.</param>
/// <param name="PeakStageBytes">The most any stage holds at once: its layers' state and the activations its schedule keeps.</param>
public sealed record Mesh(
    StagePartition Partition,
    IReadOnlyList<IReadOnlyList<RankId>> Grid,
    IReadOnlyList<RankId> Idle,
    int MicroBatches,
    ScheduleKind Schedule,
    double StepEstimate,
    long PeakStageBytes)
{
    public int Replicas => Grid.Count;

    public int Stages => Partition.Stages;

    /// <summary>Where <paramref name="rank"/> works in this mesh; null when it is idle or not a member.</summary>
    public (int Replica, int Stage)? PositionOf(RankId rank)
    {
        for (var r = 0; r < Grid.Count; r++)
            for (var s = 0; s < Grid[r].Count; s++)
                if (Grid[r][s] == rank) return (r, s);
        return null;
    }

    /// <summary>The mesh as its members learn it.</summary>
    public MeshLayout Layout => new(Partition.Layers, [.. Enumerable.Range(0, Stages).Select(Partition.FirstLayer)],
        [.. Grid.Select(row => row.ToArray())], MicroBatches, Schedule);

    public override string ToString() => $"{Replicas}x{Stages} ({Partition}), {MicroBatches} micro-batches, {Schedule}";
}
