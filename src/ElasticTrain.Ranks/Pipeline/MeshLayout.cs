using ElasticTrain.Collectives;
using ElasticTrain.Jobs;
using ElasticTrain.Pipeline;
using ElasticTrain.Wire;

namespace ElasticTrain.Ranks.Pipeline;

/// <summary>
/// A generation's mesh as its members learn it: <c>Grid[r][s]</c> runs stage s of replica r, the
/// stages share out the model's <paramref name="Layers"/> pipeline layers from
/// <paramref name="StageStarts"/> on, and a step is cut into <paramref name="MicroBatches"/> per
/// replica in the order of <paramref name="Schedule"/>. One stage is plain data parallelism: every
/// member holds the whole model, and the grid is one column in ring order.
/// </summary>
/// <param name="PeerCopyEvery">
/// Steps between in-memory copies of each stage on its neighbour (stage s keeps stage s - 1's), so
/// that a lost stage with no twin in another replica comes back from memory; 0: none (the mesh has
/// a second replica, or no stages).
/// </param>
public sealed record MeshLayout(int Layers, int[] StageStarts, RankId[][] Grid, int MicroBatches, ScheduleKind Schedule, int PeerCopyEvery = 0) : IWireMessage
{
    /// <summary>Plain data parallelism over <paramref name="ranks"/>, in ring order.</summary>
    public static MeshLayout DataParallel(int layers, IEnumerable<RankId> ranks) =>
        new(layers, [0], [.. ranks.Order().Select(r => new[] { r })], 1, ScheduleKind.OneFOneB);

    public int Stages => StageStarts.Length;

    public int Replicas => Grid.Length;

    public StagePartition Partition => new(Layers, StageStarts);

    public IEnumerable<RankId> Members => Grid.SelectMany(row => row);

    /// <summary>The layers stage <paramref name="stage"/> holds.</summary>
    public LayerRange LayersOf(int stage) => new(Partition.FirstLayer(stage), Partition.EndLayer(stage));

    /// <summary>Where <paramref name="rank"/> works; null when it is not a member.</summary>
    public (int Replica, int Stage)? PositionOf(RankId rank)
    {
        for (var r = 0; r < Grid.Length; r++)
            for (var s = 0; s < Grid[r].Length; s++)
                if (Grid[r][s] == rank) return (r, s);
        return null;
    }

    /// <summary>The layers <paramref name="rank"/> holds in this mesh.</summary>
    /// <exception cref="ArgumentException">The rank is not a member.</exception>
    public LayerRange LayersOf(RankId rank) =>
        PositionOf(rank) is { } at ? LayersOf(at.Stage) : throw new ArgumentException($"rank {rank} is not in the mesh", nameof(rank));

    /// <summary>The rank's place on the data plane, its peers named by <paramref name="member"/>.</summary>
    public MeshPlace PlaceOf(RankId rank, long generation, Func<RankId, ExchangeMember> member)
    {
        var (replica, stage) = PositionOf(rank) ?? throw new ArgumentException($"rank {rank} is not in the mesh", nameof(rank));
        return new MeshPlace(generation, [.. Grid.Select(row => (IReadOnlyList<ExchangeMember>)[.. row.Select(member)])], replica, stage, Schedule, MicroBatches);
    }

    /// <summary>The rank that keeps a copy of <paramref name="rank"/>'s stage: the next stage of its replica, the first after the last.</summary>
    public RankId CopyHolderOf(RankId rank)
    {
        var (replica, stage) = PositionOf(rank) ?? throw new ArgumentException($"rank {rank} is not in the mesh", nameof(rank));
        return Grid[replica][(stage + 1) % Stages];
    }

    public override string ToString() => $"{Replicas}x{Stages}";
}
