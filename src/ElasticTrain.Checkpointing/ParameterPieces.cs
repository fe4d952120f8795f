namespace ElasticTrain.Checkpointing;

/// <summary>
/// Puts a parameter's state back together from the states of its row pieces: in row-major order a
/// row range is one contiguous run of bytes, in the values and in every optimizer slot alike, so the
/// whole is the pieces' bytes one after another in row order, and no tensor is made.
/// </summary>
public static class ParameterPieces
{
    /// <summary>
    /// The whole parameter's state out of its pieces' (any order): values and each slot joined by
    /// rows, the first dimension the rows of all pieces, the rest and the step the pieces'.
    /// </summary>
    /// <exception cref="ArgumentException">
    /// No pieces, pieces of two parameters, rows not held once each (<see cref="CheckpointPiece.CheckCovers"/>),
    /// a tensor whose rows are not its piece's, or pieces that disagree on the step, the optimizer's
    /// slots, a tensor's element type or its shape past the rows. The message names the parameter.
    /// </exception>
    public static ParameterState Join(IReadOnlyList<(CheckpointPiece Piece, ParameterState State)> pieces)
    {
        ArgumentNullException.ThrowIfNull(pieces);
        if (pieces.Count == 0) throw new ArgumentException("there are no pieces to join");
        var name = pieces[0].Piece.Parameter;
        if (pieces.FirstOrDefault(p => p.Piece.Parameter != name) is { Piece: { } other })
            throw new ArgumentException($"pieces of parameters '{name}' and '{other.Parameter}' cannot be joined into one");
        CheckpointPiece.CheckCovers(name, pieces.Select(p => p.Piece));
        var ordered = pieces.OrderBy(p => p.Piece.FirstRow).ToList();
        var first = ordered[0].State;
        var slots = first.Slots.Select(s => s.Name).ToList();
        if (ordered.FirstOrDefault(p => p.State.Step != first.Step || !p.State.Slots.Select(s => s.Name).SequenceEqual(slots)) is { State: { } odd })
            throw new ArgumentException(
                $"the pieces of parameter '{name}' disagree: step {first.Step}, slots [{string.Join(", ", slots)}] "
                + $"against step {odd.Step}, slots [{string.Join(", ", odd.Slots.Select(s => s.Name))}]");

        TensorBytes Joined(string what, Func<ParameterState, TensorBytes> tensorOf)
        {
            var model = tensorOf(first);
            if (model.Shape.Length == 0 || model.Shape[0] == 0)
                throw new ArgumentException($"piece {ordered[0].Piece}'s {what} are {model.ShapeText}: they have no rows to join");
            var rowBytes = model.Data.Length / model.Shape[0];
            var data = new byte[ordered.Sum(p => (long)p.Piece.Rows * rowBytes)];
            var at = 0;
            foreach (var (piece, state) in ordered)
            {
                var tensor = tensorOf(state);
                if (tensor.DType != model.DType || tensor.Shape.Length != model.Shape.Length || !tensor.Shape.AsSpan(1).SequenceEqual(model.Shape.AsSpan(1)))
                    throw new ArgumentException(
                        $"the pieces of parameter '{name}' disagree: {what} of {ordered[0].Piece} are {model.DType} {model.ShapeText}, of {piece} {tensor.DType} {tensor.ShapeText}");
                if (tensor.Shape[0] != piece.Rows || tensor.Data.Length != piece.Rows * rowBytes)
                    throw new ArgumentException(
                        $"piece {piece}'s {what} are {tensor.ShapeText} in {tensor.Data.Length} bytes, not its {piece.Rows} rows of {rowBytes} bytes");
                tensor.Data.CopyTo(data, at);
                at += tensor.Data.Length;
            }
            return new TensorBytes(model.DType, [ordered[^1].Piece.EndRow, .. model.Shape.AsSpan(1)], data);
        }
        return new ParameterState(name, Joined("values", s => s.Value), first.Step,
            [.. slots.Select((slot, i) => new StateSlot(slot, Joined(slot, s => s.Slots[i].Tensor)))]);
    }
}
