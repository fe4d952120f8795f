namespace ElasticTrain.Jobs;

/// <summary>The model's pipeline layers [<see cref="First"/>, <see cref="End"/>): a stage, or all of a replica.</summary>
public readonly record struct LayerRange
{
    public LayerRange(int first, int end)
    {
        if (first < 0 || end <= first) throw new ArgumentException($"a layer range needs 0 <= first < end, not [{first}, {end})");
        First = first;
        End = end;
    }

    public int First { get; init; }

    public int End { get; init; }

    public int Count => End - First;

    public bool Contains(int layer) => layer >= First && layer < End;

    public IEnumerable<int> All() => Enumerable.Range(First, Count);

    public override string ToString() => $"[{First},{End})";
}
