using System.Text;

namespace ElasticTrain.ParameterServer;

/// <summary>
/// Which shard holds which rows of which parameter in parameter-server mode: every element of
/// every parameter in exactly one <see cref="ShardPiece"/>, the shards balanced by bytes. A plain
/// value with no tensors, in the shared vocabulary (as <c>StagePartition</c> is), so the
/// coordinator plans without TorchSharp and a worker or a shard turns its pieces into tensors.
/// </summary>
/// <remarks>
/// <para>
/// <see cref="Balanced"/> works in two passes against the target T = ceil(total bytes / shards).
/// First the tensors kept whole (those of fewer than two dimensions, and any not larger than T)
/// go largest first onto the lightest shard. Then each larger tensor, largest first, fills the
/// lightest shard up to T with whole rows (rounding up to a row), and its remaining rows go on to
/// the next lightest, and so on: a tensor is cut only where a shard is full, so into as few row
/// ranges as that balance needs, and no shard holds two pieces of one tensor.
/// </para>
/// <para>
/// The bound (<see cref="Bound"/>): no shard holds more than T + U bytes, where U is the largest
/// indivisible unit, a tensor kept whole or one row of a split tensor. Proof: a shard that took a
/// row range was the lightest, so below T (were the lightest at T or more, all shards would be,
/// and they would already hold every byte), and a range ends at the first row that brings it to T.
/// A shard that took no rows last took a whole tensor p when it was the lightest, so it held at
/// most (total - p) / shards before and at most total / shards + p after. No bound better than
/// T + (largest whole tensor) holds while small tensors stay whole: three tensors of 2T/3 on two
/// shards put 4T/3 on one.
/// </para>
/// <para>
/// Ties go to the lower shard index and, among tensors of equal size, to the ordinally lower name,
/// so the plan depends only on the parameters' names, shapes and element sizes and on the shard
/// count, not on the order they are given in; that order only sets the order of a shard's pieces.
/// </para>
/// </remarks>
public sealed class ShardPlan
{
    private readonly IReadOnlyList<ShardPiece>[] _pieces;
    private readonly long[] _bytes;

    private ShardPlan(IReadOnlyList<ParameterShape> parameters, IReadOnlyList<ShardPiece>[] pieces, long[] bytes, long target, long largestUnit)
    {
        Parameters = parameters;
        _pieces = pieces;
        _bytes = bytes;
        Target = target;
        LargestUnit = largestUnit;
    }

    /// <summary>The model's parameters in the order given.</summary>
    public IReadOnlyList<ParameterShape> Parameters { get; }

    public int Shards => _pieces.Length;

    public long TotalBytes => _bytes.Sum();

    /// <summary>T: ceil(total bytes / shards), what a perfectly balanced shard would hold.</summary>
    public long Target { get; }

    /// <summary>U: the largest tensor kept whole or the largest row of a split tensor.</summary>
    public long LargestUnit { get; }

    /// <summary>T + U: no shard holds more (see the remarks for the proof).</summary>
    public long Bound => Target + LargestUnit;

    /// <summary>The pieces of <paramref name="shard"/>, in the parameters' order, then by row.</summary>
    public IReadOnlyList<ShardPiece> PiecesOf(int shard) => _pieces[CheckShard(shard)];

    public long BytesOf(int shard) => _bytes[CheckShard(shard)];

    /// <summary>The shards that hold rows of <paramref name="name"/>, with their pieces, by first row.</summary>
    /// <exception cref="ArgumentException">No parameter of this name.</exception>
    public IReadOnlyList<(int Shard, ShardPiece Piece)> HoldersOf(string name)
    {
        var holders = Enumerable.Range(0, Shards)
            .SelectMany(s => _pieces[s].Where(p => p.Name == name).Select(p => (Shard: s, Piece: p)))
            .OrderBy(h => h.Piece.FirstRow)
            .ToList();
        return holders.Count > 0 ? holders : throw new ArgumentException($"The plan has no parameter '{name}'.", nameof(name));
    }

    /// <summary>
    /// Splits <paramref name="parameters"/> (the model's, in its order) into <paramref name="shards"/>
    /// shards balanced by bytes; see the remarks.
    /// </summary>
    /// <exception cref="ArgumentException">
    /// Fewer than one shard, no parameters, a name given twice, or more shards than the parameters
    /// make pieces at this balance. A shard that would hold nothing is refused rather than kept
    /// empty: its entity would cost a placement, a backup and a round trip per step for nothing.
    /// The message says how many shards the parameters do fill.
    /// </exception>
    public static ShardPlan Balanced(IReadOnlyList<ParameterShape> parameters, int shards)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        if (shards < 1)
            throw new ArgumentException($"A plan needs at least one shard, not {shards}.", nameof(shards));
        if (parameters.Count == 0)
            throw new ArgumentException("A plan needs at least one parameter to shard.", nameof(parameters));
        if (parameters.GroupBy(p => p.Name, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1) is { } twice)
            throw new ArgumentException($"Parameter '{twice.Key}' is given twice.", nameof(parameters));

        if (TryPlan(parameters, shards) is { } plan) return plan;
        // Only on refusal: the most shards below this that all get parameters, searched down from
        // the most pieces the parameters could make at all (one shard always works).
        var most = parameters.Sum(p => p.Splittable ? p.Rows : 1);
        var fits = Enumerable.Range(1, (int)Math.Min(shards - 1, most)).Reverse().First(n => TryPlan(parameters, n) is not null);
        throw new ArgumentException(
            $"{shards} shards would leave a shard without parameters: {parameters.Count} parameters of {parameters.Sum(p => p.Bytes)} bytes "
            + $"(tensors of fewer than 2 dimensions, or no larger than a shard's share, stay whole); the most shards below {shards} that they fill is {fits}.", nameof(shards));
    }

    /// <summary>The plan of the remarks; null when a shard would hold nothing.</summary>
    private static ShardPlan? TryPlan(IReadOnlyList<ParameterShape> parameters, int shards)
    {
        var total = parameters.Sum(p => p.Bytes);
        var target = (total + shards - 1) / shards;
        var split = parameters.Where(p => p.Splittable && p.Bytes > target).ToHashSet();
        static IOrderedEnumerable<ParameterShape> LargestFirst(IEnumerable<ParameterShape> ps) =>
            ps.OrderByDescending(p => p.Bytes).ThenBy(p => p.Name, StringComparer.Ordinal);

        var loads = new long[shards];
        var held = Enumerable.Range(0, shards).Select(_ => new List<ShardPiece>()).ToArray();
        int Lightest()
        {
            var lightest = 0;
            for (var s = 1; s < shards; s++)
                if (loads[s] < loads[lightest]) lightest = s;
            return lightest;
        }
        void Place(int shard, ShardPiece piece)
        {
            held[shard].Add(piece);
            loads[shard] += piece.Bytes;
        }

        foreach (var whole in LargestFirst(parameters.Where(p => !split.Contains(p))))
            Place(Lightest(), new ShardPiece(whole, 0, whole.Rows));
        foreach (var tensor in LargestFirst(split))
        {
            for (var next = 0L; next < tensor.Rows;)
            {
                var shard = Lightest();
                // Room is at least 1 byte here: see the remarks. Round up to a whole row.
                var room = target - loads[shard];
                var rows = Math.Min(tensor.Rows - next, (room + tensor.RowBytes - 1) / tensor.RowBytes);
                Place(shard, new ShardPiece(tensor, next, next + rows));
                next += rows;
            }
        }
        if (held.Any(h => h.Count == 0)) return null;

        var order = parameters.Select((p, i) => (p.Name, i)).ToDictionary(x => x.Name, x => x.i, StringComparer.Ordinal);
        var pieces = held.Select(h => (IReadOnlyList<ShardPiece>)[.. h.OrderBy(p => order[p.Name]).ThenBy(p => p.FirstRow)]).ToArray();
        var largestUnit = parameters.Max(p => split.Contains(p) ? p.RowBytes : p.Bytes);
        return new ShardPlan([.. parameters], pieces, loads, target, largestUnit);
    }

    /// <summary>
    /// One line for the whole and one per shard, e.g. <c>shard 1: 704 bytes: fc1.weight[22,39) fc1.bias</c>:
    /// stable for a given plan, for status pages and the journal.
    /// </summary>
    public override string ToString()
    {
        var text = new StringBuilder($"{Shards} shards, {TotalBytes} bytes, target {Target}, bound {Bound}");
        for (var s = 0; s < Shards; s++)
            text.Append('\n').Append($"shard {s}: {_bytes[s]} bytes: ").AppendJoin(' ', _pieces[s]);
        return text.ToString();
    }

    private int CheckShard(int shard) => shard >= 0 && shard < Shards
        ? shard
        : throw new ArgumentOutOfRangeException(nameof(shard), shard, $"Shards are numbered 0 to {Shards - 1}.");
}
