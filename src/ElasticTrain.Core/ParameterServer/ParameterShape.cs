namespace ElasticTrain.ParameterServer;

/// <summary>
/// What a shard plan needs to know of one parameter: its name in the whole model, its shape and
/// the size of its elements. Rows are the slices along dimension 0, the only dimension a shard
/// plan splits along: in row-major order a row range is one contiguous run of elements, so a
/// piece of a tensor is a plain span of its bytes and of its flattened gradient.
/// </summary>
/// <remarks>
/// A 0-dimensional parameter counts as one row of one element. Only tensors of two or more
/// dimensions are <see cref="Splittable"/>: a 1-D tensor (a bias, a norm's gain) is small next to
/// the matrices beside it, and splitting it would buy no balance for another message per step.
/// Equality compares the shape's contents, not the array's reference.
/// </remarks>
public sealed record ParameterShape
{
    /// <exception cref="ArgumentException">An empty name, a negative or zero dimension, or an element size below 1.</exception>
    public ParameterShape(string name, long[] shape, int elementSize)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(shape);
        if (name.Length == 0)
            throw new ArgumentException("A parameter needs a name.", nameof(name));
        if (shape.Any(d => d <= 0))
            throw new ArgumentException($"Parameter '{name}' has shape [{string.Join(", ", shape)}]: every dimension must hold at least one element.", nameof(shape));
        if (elementSize < 1)
            throw new ArgumentException($"Parameter '{name}' has element size {elementSize}; it must be at least 1 byte.", nameof(elementSize));
        Name = name;
        Shape = [.. shape];
        ElementSize = elementSize;
        Rows = shape.Length == 0 ? 1 : shape[0];
        RowElements = shape.Skip(1).Aggregate(1L, (product, d) => checked(product * d));
    }

    public string Name { get; }

    /// <summary>The dimensions; a copy of what was given, so that the plan cannot change under its holder.</summary>
    public IReadOnlyList<long> Shape { get; }

    public int ElementSize { get; }

    /// <summary>Slices along dimension 0 (1 for a scalar).</summary>
    public long Rows { get; }

    /// <summary>Elements in one row: the product of the dimensions after the first.</summary>
    public long RowElements { get; }

    public long RowBytes => RowElements * ElementSize;

    public long Elements => Rows * RowElements;

    public long Bytes => Rows * RowBytes;

    /// <summary>Whether a plan may split it by rows: two or more dimensions and more than one row.</summary>
    public bool Splittable => Shape.Count >= 2 && Rows > 1;

    /// <summary>The shape as <c>[40, 8]</c>, for messages.</summary>
    public string ShapeText => "[" + string.Join(", ", Shape) + "]";

    public bool Equals(ParameterShape? other) =>
        other is not null && Name == other.Name && ElementSize == other.ElementSize && Shape.SequenceEqual(other.Shape);

    public override int GetHashCode() => HashCode.Combine(Name, ElementSize, Shape.Count, Rows, RowElements);

    public override string ToString() => $"{Name}{ShapeText}x{ElementSize}B";
}
