using System.Globalization;
using System.Text.RegularExpressions;

namespace ElasticTrain.Checkpointing;

/// <summary>
/// Rows [<see cref="FirstRow"/>, <see cref="EndRow"/>) of a parameter, as a checkpoint part holds
/// them when its writer held only those rows (a parameter shard). Written <c>fc1.weight[22,39)</c>,
/// as the parameter-server's <c>ShardPiece</c> writes itself; a whole parameter stays its plain name,
/// so every manifest written before pieces reads unchanged. The text is both the entry in the part's
/// <see cref="CheckpointPart.Parameters"/> and the key of the piece's section in the part's file
/// (<c>parameter/fc1.weight[22,39)</c>): one part may then hold two pieces of one parameter, and a
/// part's sections never collide with a whole parameter's.
/// </summary>
/// <remarks>
/// No file records how many rows the whole parameter has, so a range missing after the last one
/// cannot be told from a shorter parameter here; the model or shard that loads the joined parameter
/// checks its shape and names the parameter when it differs. Any gap before, or overlap, is refused
/// (<see cref="CheckCovers"/>).
/// </remarks>
/// <param name="Parameter">The whole parameter's name in the model.</param>
public sealed partial record CheckpointPiece(string Parameter, long FirstRow, long EndRow)
{
    public long Rows => EndRow - FirstRow;

    public override string ToString() => $"{Parameter}[{FirstRow},{EndRow})";

    /// <summary>The rows an entry of a part names; null when the entry is a whole parameter's plain name.</summary>
    /// <exception cref="ArgumentException">The entry names rows, but not a non-empty range of them.</exception>
    public static CheckpointPiece? Parse(string entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        if (Pattern().Match(entry) is not { Success: true } match) return null;
        if (!long.TryParse(match.Groups["first"].Value, NumberStyles.None, CultureInfo.InvariantCulture, out var first)
            || !long.TryParse(match.Groups["end"].Value, NumberStyles.None, CultureInfo.InvariantCulture, out var end)
            || end <= first)
            throw new ArgumentException($"entry '{entry}' names no non-empty range of rows");
        return new CheckpointPiece(match.Groups["name"].Value, first, end);
    }

    /// <summary>
    /// Refuses pieces of <paramref name="parameter"/> (any order) that do not hold its rows once each,
    /// from row 0 on without a gap; see the remarks for why the last row is not checked.
    /// </summary>
    /// <exception cref="ArgumentException">A gap or an overlap; the message names the parameter and the rows.</exception>
    public static void CheckCovers(string parameter, IEnumerable<CheckpointPiece> pieces)
    {
        var next = 0L;
        foreach (var piece in pieces.OrderBy(p => p.FirstRow).ThenBy(p => p.EndRow))
        {
            if (piece.FirstRow > next)
                throw new ArgumentException($"parameter '{parameter}': rows [{next},{piece.FirstRow}) are in no piece");
            if (piece.FirstRow < next)
                throw new ArgumentException($"parameter '{parameter}': rows [{piece.FirstRow},{Math.Min(next, piece.EndRow)}) are in two pieces");
            next = piece.EndRow;
        }
    }

    // Digits only, no sign or spaces: what ShardPiece writes. Parameter names from TorchSharp hold no brackets.
    [GeneratedRegex(@"^(?<name>.+)\[(?<first>\d{1,18}),(?<end>\d{1,18})\)$")]
    private static partial Regex Pattern();
}
