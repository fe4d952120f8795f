using ElasticTrain.Checkpointing;
using ElasticTrain.ParameterServer;

namespace ElasticTrain.Ranks.ParameterServer;

/// <summary>
/// The values and optimizer state of one <see cref="ShardPiece"/>: a <see cref="ParameterState"/>
/// under the whole parameter's name whose tensors hold the piece's rows only. Cut out of, and put
/// back into, the name-keyed whole-parameter format by bytes alone: in row-major order a row range
/// is one contiguous run of bytes, in the values and in every slot alike, so no tensor is made.
/// </summary>
public sealed record PieceState(ShardPiece Piece, ParameterState State)
{
    /// <summary>The rows of <paramref name="piece"/> out of <paramref name="whole"/>, the whole parameter's state.</summary>
    /// <exception cref="CheckpointException">The state is of another parameter, or its values or a slot are not of the parameter's shape; the message names it.</exception>
    public static PieceState Slice(ShardPiece piece, ParameterState whole)
    {
        ArgumentNullException.ThrowIfNull(piece);
        ArgumentNullException.ThrowIfNull(whole);
        if (whole.Name != piece.Name)
            throw new CheckpointException($"the state of parameter '{whole.Name}' was given for a piece of '{piece.Name}'");
        TensorBytes Rows(string what, TensorBytes tensor)
        {
            var parameter = piece.Parameter;
            if (!tensor.Shape.AsSpan().SequenceEqual([.. parameter.Shape]) || tensor.Data.Length != parameter.Bytes)
                throw new CheckpointException(
                    $"parameter '{piece.Name}': the state's {what} are {tensor.DType} {tensor.ShapeText} in {tensor.Data.Length} bytes, the plan's parameter is {parameter.ShapeText} in {parameter.Bytes}");
            return piece.IsWhole
                ? tensor
                : tensor with { Shape = piece.Shape, Data = tensor.Data[(int)(piece.FirstRow * parameter.RowBytes)..(int)(piece.EndRow * parameter.RowBytes)] };
        }
        return new PieceState(piece, whole with
        {
            Value = Rows("values", whole.Value),
            Slots = [.. whole.Slots.Select(s => s with { Tensor = Rows(s.Name, s.Tensor) })],
        });
    }

    /// <summary>
    /// The whole parameters of <paramref name="plan"/> out of its pieces' states (any order), as a
    /// checkpoint or a rank holds them: what the shards hold, put back together.
    /// </summary>
    /// <exception cref="ArgumentException">
    /// A piece the plan does not have, one given twice, one of the plan's missing, or pieces of one
    /// parameter that disagree on the step count, the element type or the optimizer slots
    /// (<see cref="ParameterPieces.Join"/>, which joins them).
    /// </exception>
    public static NamedState Assemble(ShardPlan plan, IEnumerable<PieceState> pieces)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(pieces);
        var given = new Dictionary<ShardPiece, PieceState>();
        foreach (var piece in pieces)
        {
            if (plan.HoldersOf(piece.Piece.Name).All(h => h.Piece != piece.Piece))
                throw new ArgumentException($"Piece {piece.Piece} is not one of the plan's.", nameof(pieces));
            if (!given.TryAdd(piece.Piece, piece))
                throw new ArgumentException($"Piece {piece.Piece} is given twice.", nameof(pieces));
        }
        ParameterState Given((int Shard, ShardPiece Piece) holder) => given.TryGetValue(holder.Piece, out var state)
            ? Sized(state)
            : throw new ArgumentException($"Piece {holder.Piece} of shard {holder.Shard} is missing.", nameof(pieces));
        // A whole piece is the parameter as it is: a scalar has no rows to join.
        return new NamedState(plan.Parameters.Select(parameter => plan.HoldersOf(parameter.Name) switch
        {
            [{ Piece.IsWhole: true } whole] => Given(whole),
            var holders => ParameterPieces.Join([.. holders.Select(h => (new CheckpointPiece(h.Piece.Name, h.Piece.FirstRow, h.Piece.EndRow), Given(h)))]),
        }));
    }

    /// <summary>The state, once its values and every slot are checked to hold the piece's bytes.</summary>
    private static ParameterState Sized(PieceState piece)
    {
        foreach (var (what, tensor) in piece.State.Slots.Select(s => (s.Name, s.Tensor)).Prepend(("values", piece.State.Value)))
            if (tensor.Data.Length != piece.Piece.Bytes)
                throw new ArgumentException($"Piece {piece.Piece}'s {what} hold {tensor.Data.Length} bytes, not its {piece.Piece.Bytes}.", nameof(piece));
        return piece.State;
    }
}
