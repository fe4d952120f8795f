namespace ElasticTrain.Jobs;

/// <summary>
/// How a model's layers are split into pipeline stages: stage s holds the contiguous layers
/// [<see cref="FirstLayer"/>(s), <see cref="EndLayer"/>(s)); stages are numbered from 0 (the first
/// layers, the embeddings) to <see cref="Stages"/> - 1 (the output), each holds at least one layer,
/// and together they hold every layer once.
/// </summary>
/// <remarks>
/// A plain value with no tensors, in the jobs vocabulary, so the coordinator can plan a mesh without
/// loading TorchSharp; a rank turns stage s into a model stage from the two bounds. The layers are
/// the model's pipeline layers, in which the embeddings and the output count as layers.
/// </remarks>
public sealed class StagePartition : IEquatable<StagePartition>
{
    private readonly int[] _starts;

    /// <param name="layers">How many layers the model has.</param>
    /// <param name="firstLayers">The first layer of each stage, in stage order.</param>
    /// <exception cref="ArgumentException">
    /// No stage, a first stage that does not start at layer 0, a stage with no layer, or a stage
    /// starting past the last layer.
    /// </exception>
    public StagePartition(int layers, IReadOnlyList<int> firstLayers)
    {
        ArgumentNullException.ThrowIfNull(firstLayers);
        if (firstLayers.Count == 0)
            throw new ArgumentException("A partition needs at least one stage.", nameof(firstLayers));
        if (firstLayers.Count > layers)
            throw new ArgumentException($"{firstLayers.Count} stages cannot each hold a layer of {layers}.", nameof(firstLayers));
        if (firstLayers[0] != 0)
            throw new ArgumentException($"Stage 0 must start at layer 0, not {firstLayers[0]}: layers before it would belong to no stage.", nameof(firstLayers));
        for (int s = 1; s < firstLayers.Count; s++)
            if (firstLayers[s] <= firstLayers[s - 1])
                throw new ArgumentException(
                    $"Stage {s} starts at layer {firstLayers[s]}, not after stage {s - 1}'s start {firstLayers[s - 1]}: every stage needs at least one layer.", nameof(firstLayers));
        if (firstLayers[^1] >= layers)
            throw new ArgumentException($"Stage {firstLayers.Count - 1} starts at layer {firstLayers[^1]}, past the last of {layers} layers.", nameof(firstLayers));
        Layers = layers;
        _starts = [.. firstLayers];
    }

    /// <summary>How many layers the stages share out.</summary>
    public int Layers { get; }

    /// <summary>How many stages: P.</summary>
    public int Stages => _starts.Length;

    /// <summary>The first layer of <paramref name="stage"/>.</summary>
    public int FirstLayer(int stage) => _starts[CheckStage(stage)];

    /// <summary>One past the last layer of <paramref name="stage"/>.</summary>
    public int EndLayer(int stage) => CheckStage(stage) + 1 < _starts.Length ? _starts[stage + 1] : Layers;

    /// <summary>The stage that holds <paramref name="layer"/>.</summary>
    public int StageOf(int layer)
    {
        if (layer < 0 || layer >= Layers)
            throw new ArgumentOutOfRangeException(nameof(layer), layer, $"Layers are numbered 0 to {Layers - 1}.");
        int stage = Array.BinarySearch(_starts, layer);
        return stage >= 0 ? stage : ~stage - 1;
    }

    /// <summary>Each stage's cost: the sum of its layers' <paramref name="layerCosts"/>.</summary>
    public IReadOnlyList<double> StageCosts(IReadOnlyList<double> layerCosts)
    {
        CheckCosts(layerCosts, Layers);
        return [.. Enumerable.Range(0, Stages).Select(s => Enumerable.Range(FirstLayer(s), EndLayer(s) - FirstLayer(s)).Sum(l => layerCosts[l]))];
    }

    /// <summary>
    /// The partition of <paramref name="layerCosts"/>.Count layers into <paramref name="stages"/>
    /// stages whose costliest stage costs least (the linear partition problem). Among partitions that
    /// tie, the one whose earlier stages are smallest: under 1F1B stage s keeps the activations of up
    /// to P - s micro-batches, so the early stages are the ones to keep light.
    /// </summary>
    /// <remarks>
    /// Exact, by dynamic programming in O(P N^2) time for P stages and N layers: microseconds for the
    /// few dozen layers a model has. A pure function of its arguments, so every member that computes
    /// it from the same measured costs gets the same partition.
    /// </remarks>
    /// <param name="layerCosts">Each layer's cost (time forward and backward, say): finite and not negative.</param>
    /// <exception cref="ArgumentException">Fewer layers than stages, no stage, or a cost that is negative or not finite.</exception>
    public static StagePartition Balanced(IReadOnlyList<double> layerCosts, int stages)
    {
        ArgumentNullException.ThrowIfNull(layerCosts);
        int n = layerCosts.Count;
        if (stages < 1 || stages > n)
            throw new ArgumentException($"Cannot split {n} layers into {stages} stages of at least one layer each.", nameof(stages));
        CheckCosts(layerCosts, n);

        var prefix = new double[n + 1];
        for (int i = 0; i < n; i++) prefix[i + 1] = prefix[i] + layerCosts[i];
        // One expression for a range's cost everywhere, so comparisons against the optimum are exact.
        double Cost(int from, int to) => prefix[to] - prefix[from];

        // tail[k, i]: the least possible costliest stage when layers [i, n) form k stages.
        var tail = new double[stages + 1, n + 1];
        for (int i = 0; i <= n; i++) tail[0, i] = i == n ? 0 : double.PositiveInfinity;
        for (int k = 1; k <= stages; k++)
            for (int i = 0; i <= n; i++)
            {
                var best = double.PositiveInfinity;
                for (int end = i + 1; end <= n - (k - 1); end++)
                    best = Math.Min(best, Math.Max(Cost(i, end), tail[k - 1, end]));
                tail[k, i] = best;
            }

        // From the front, end each stage as early as the optimum allows.
        var optimum = tail[stages, 0];
        var starts = new int[stages];
        for (int s = 0, start = 0; s < stages; s++)
        {
            starts[s] = start;
            int remaining = stages - s - 1;
            int end = start + 1;
            while (Cost(start, end) > optimum || tail[remaining, end] > optimum) end++;
            start = end;
        }
        return new StagePartition(n, starts);
    }

    public bool Equals(StagePartition? other) =>
        other is not null && Layers == other.Layers && _starts.AsSpan().SequenceEqual(other._starts);

    public override bool Equals(object? obj) => Equals(obj as StagePartition);

    public override int GetHashCode()
    {
        var hash = new HashCode();
        hash.Add(Layers);
        foreach (var start in _starts) hash.Add(start);
        return hash.ToHashCode();
    }

    /// <summary>Each stage's layer range: "[0,2) [2,4) [4,6)".</summary>
    public override string ToString() =>
        string.Join(" ", Enumerable.Range(0, Stages).Select(s => $"[{FirstLayer(s)},{EndLayer(s)})"));

    private int CheckStage(int stage)
    {
        if (stage < 0 || stage >= _starts.Length)
            throw new ArgumentOutOfRangeException(nameof(stage), stage, $"Stages are numbered 0 to {_starts.Length - 1}.");
        return stage;
    }

    private static void CheckCosts(IReadOnlyList<double> layerCosts, int layers)
    {
        ArgumentNullException.ThrowIfNull(layerCosts);
        if (layerCosts.Count != layers)
            throw new ArgumentException($"Expected a cost for each of {layers} layers, got {layerCosts.Count}.", nameof(layerCosts));
        for (int i = 0; i < layerCosts.Count; i++)
            if (!double.IsFinite(layerCosts[i]) || layerCosts[i] < 0)
                throw new ArgumentException($"Layer {i}'s cost must be finite and not negative, got {layerCosts[i]}.", nameof(layerCosts));
    }
}
