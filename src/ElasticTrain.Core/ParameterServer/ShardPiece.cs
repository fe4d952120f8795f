namespace ElasticTrain.ParameterServer;

/// <summary>
/// The rows [<see cref="FirstRow"/>, <see cref="EndRow"/>) of one parameter, held by one shard:
/// the unit in which a shard keeps values and optimizer state, and in which workers pull values
/// and push gradients. In row-major order it is the elements [<see cref="FirstElement"/>,
/// <see cref="FirstElement"/> + <see cref="Elements"/>) of the flattened parameter.
/// </summary>
public sealed record ShardPiece
{
    /// <exception cref="ArgumentException">An empty range, or one outside the parameter's rows.</exception>
    public ShardPiece(ParameterShape parameter, long firstRow, long endRow)
    {
        ArgumentNullException.ThrowIfNull(parameter);
        if (firstRow < 0 || endRow <= firstRow || endRow > parameter.Rows)
            throw new ArgumentException(
                $"Rows [{firstRow}, {endRow}) are not a non-empty range of parameter '{parameter.Name}''s {parameter.Rows} rows.", nameof(firstRow));
        Parameter = parameter;
        FirstRow = firstRow;
        EndRow = endRow;
    }

    public ParameterShape Parameter { get; }

    public long FirstRow { get; }

    public long EndRow { get; }

    public string Name => Parameter.Name;

    public long Rows => EndRow - FirstRow;

    public long Bytes => Rows * Parameter.RowBytes;

    public long FirstElement => FirstRow * Parameter.RowElements;

    public long Elements => Rows * Parameter.RowElements;

    /// <summary>Whether it is the whole parameter.</summary>
    public bool IsWhole => FirstRow == 0 && EndRow == Parameter.Rows;

    /// <summary>Its shape: the parameter's with <see cref="Rows"/> rows. A one-row slice keeps every dimension.</summary>
    public long[] Shape => Parameter.Shape.Count == 0 ? [] : [Rows, .. Parameter.Shape.Skip(1)];

    /// <summary>The parameter's name, followed by <c>[first,end)</c> when it is not the whole of it.</summary>
    public override string ToString() => IsWhole ? Name : $"{Name}[{FirstRow},{EndRow})";
}
