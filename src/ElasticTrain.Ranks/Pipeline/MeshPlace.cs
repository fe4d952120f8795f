using ElasticTrain.Collectives;
using ElasticTrain.Pipeline;

namespace ElasticTrain.Ranks.Pipeline;

/// <summary>
/// A rank's part in one generation's mesh, as its pipeline stage needs it on the data plane:
/// every member of the dp x pp grid (<c>Grid[r][s]</c> runs stage s of replica r), where this rank
/// sits in it, and how a step is cut into micro-batches and ordered. From it the stage finds its
/// neighbours for activations and their gradients, and the replicas of its own stage, the only
/// ranks it all-reduces gradients with.
/// </summary>
public sealed record MeshPlace
{
    public MeshPlace(long generation, IReadOnlyList<IReadOnlyList<ExchangeMember>> grid, int replica, int stage,
        ScheduleKind schedule, int microBatches)
    {
        ArgumentNullException.ThrowIfNull(grid);
        if (grid.Count == 0 || grid[0].Count == 0 || grid.Any(row => row.Count != grid[0].Count))
            throw new ArgumentException("The grid needs at least one replica of at least one stage, every replica with the same stages.", nameof(grid));
        if (replica < 0 || replica >= grid.Count)
            throw new ArgumentOutOfRangeException(nameof(replica), replica, $"Replicas are numbered 0 to {grid.Count - 1}.");
        if (stage < 0 || stage >= grid[0].Count)
            throw new ArgumentOutOfRangeException(nameof(stage), stage, $"Stages are numbered 0 to {grid[0].Count - 1}.");
        ArgumentOutOfRangeException.ThrowIfLessThan(generation, 1); // as the data plane's hello demands
        ArgumentOutOfRangeException.ThrowIfLessThan(microBatches, 1);
        Generation = generation;
        Grid = grid;
        Replica = replica;
        Stage = stage;
        Schedule = schedule;
        MicroBatches = microBatches;
    }

    public long Generation { get; }

    public IReadOnlyList<IReadOnlyList<ExchangeMember>> Grid { get; }

    public int Replica { get; }

    public int Stage { get; }

    public ScheduleKind Schedule { get; }

    /// <summary>Micro-batches per step and replica, as planned; a slice with fewer samples runs one sample per micro-batch.</summary>
    public int MicroBatches { get; }

    public int Stages => Grid[0].Count;

    public bool IsFirstStage => Stage == 0;

    public bool IsLastStage => Stage == Stages - 1;

    /// <summary>The stage this one receives activations from and sends their gradients to; null on the first stage.</summary>
    public ExchangeMember? Previous => IsFirstStage ? null : Grid[Replica][Stage - 1];

    /// <summary>The stage this one sends activations to and receives their gradients from; null on the last stage.</summary>
    public ExchangeMember? Next => IsLastStage ? null : Grid[Replica][Stage + 1];

    /// <summary>
    /// The ring of this stage's replicas for <paramref name="step"/>, in replica order: a stage's
    /// gradients are summed over the replicas that hold the same layers and no other rank.
    /// </summary>
    public ExchangeGroup StageGroup(long step) => new(Generation, step, Replica, [.. Grid.Select(row => row[Stage])]);
}
