using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using ElasticTrain.Checkpointing;
using ElasticTrain.ParameterServer;
using ElasticTrain.Ranks.Optimization;
using ElasticTrain.Training;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ElasticTrain.Ranks.ParameterServer;

/// <summary>
/// One parameter shard's update rule: its pieces (row ranges of the model's parameters) as
/// parameters it owns, and the job's optimizer over them. A shard takes each step's mean gradient
/// per piece and applies it at the schedule's rate; its pieces' values and optimizer slots leave it
/// in the name-keyed format (<see cref="PieceState"/>), and put together they are the whole model's.
/// </summary>
/// <remarks>
/// <para>
/// The elementwise rules (AdamW, Adam, SGD, AdaGrad, RMSprop) are exact on row slices: each
/// element's update reads only that element's value, gradient and slots, so the shards together
/// compute what one optimizer over the whole parameters computes. A slice keeps its parameter's
/// dimensions (a one-row slice of a matrix is [1, n]), so the rule's weight-decay exemption of
/// tensors under two dimensions treats a slice as it treats the whole.
/// </para>
/// <para>
/// LAMB scales each tensor's update by ||w|| / ||update|| over the whole tensor, of which a shard
/// may hold only rows: its step takes one more round. Each shard gives its rows' squared norms
/// (<see cref="UpdateNorms"/>), whoever drives the step adds them up per tensor
/// (<see cref="TrustRatios"/>), and every shard applies at the whole tensors' ratios.
/// </para>
/// <para>
/// Global-norm clipping needs the whole model's gradient norm: each shard gives its share
/// (<see cref="Squares"/>), whoever drives the step adds the shares up and passes every shard the
/// same clip coefficient (<see cref="UpdateRule.ClipCoefficient"/>).
/// </para>
/// </remarks>
public sealed class ShardOptimizer : IDisposable
{
    private readonly Parameter[] _parameters;
    private readonly PartOptimizer _optimizer;

    /// <param name="pieces">The shard's pieces (<see cref="ShardPlan.PiecesOf"/>).</param>
    /// <param name="state">The whole model's values and optimizer state (or any state that holds the pieces' parameters).</param>
    /// <exception cref="ArgumentException">No pieces, or a piece given twice.</exception>
    /// <exception cref="CheckpointException">The state lacks a piece's parameter, holds it in another shape or element type than float32, or holds another rule's slots.</exception>
    public ShardOptimizer(IReadOnlyList<ShardPiece> pieces, NamedState state, OptimizerSettings settings, double weightDecay)
        : this(pieces, Slices(pieces, state), settings, weightDecay)
    {
    }

    /// <summary>A shard that holds <paramref name="pieces"/>' states as they are (a sibling's copy of its pieces).</summary>
    /// <exception cref="ArgumentException">No pieces, or a piece given twice.</exception>
    /// <exception cref="CheckpointException">A piece's state in another element type than float32, or with another rule's slots.</exception>
    public static ShardOptimizer FromPieces(IReadOnlyList<PieceState> pieces, OptimizerSettings settings, double weightDecay)
    {
        ArgumentNullException.ThrowIfNull(pieces);
        return new ShardOptimizer([.. pieces.Select(p => p.Piece)], [.. pieces.Select(p => p.State)], settings, weightDecay);
    }

    private static List<ParameterState> Slices(IReadOnlyList<ShardPiece> pieces, NamedState state)
    {
        ArgumentNullException.ThrowIfNull(pieces);
        ArgumentNullException.ThrowIfNull(state);
        return [.. pieces.Select(p => PieceState.Slice(p, state[p.Name]).State)];
    }

    private ShardOptimizer(IReadOnlyList<ShardPiece> pieces, List<ParameterState> slices, OptimizerSettings settings, double weightDecay)
    {
        ArgumentNullException.ThrowIfNull(settings);
        if (pieces.Count == 0)
            throw new ArgumentException("A shard needs at least one piece.", nameof(pieces));
        if (pieces.GroupBy(p => p).FirstOrDefault(g => g.Count() > 1) is { } twice)
            throw new ArgumentException($"Piece {twice.Key} is given twice.", nameof(pieces));

        if (slices.FirstOrDefault(s => s.Value.DType != nameof(ScalarType.Float32)) is { } other)
            throw new CheckpointException($"parameter '{other.Name}': its values are {other.Value.DType}; a parameter shard keeps float32");
        Pieces = pieces;
        _parameters = [.. slices.Select(s => new Parameter(ModelState.FromBytes(s.Value)))];
        // A gradient to copy each step's into: sum's gradient is ones, made once.
        foreach (var parameter in _parameters)
        {
            using var seed = parameter.sum();
            seed.backward();
        }
        _optimizer = PartOptimizer.Create(settings, weightDecay, _parameters);
        foreach (var slice in slices) ModelState.CheckSlots(slice, _optimizer);
        using var scope = NewDisposeScope();
        foreach (var (parameter, slice) in _parameters.Zip(slices))
            _optimizer.Load(parameter, slice.Step, slice.Slots.ToDictionary(s => s.Name, s => ModelState.FromBytes(s.Tensor)));
    }

    /// <summary>The shard's pieces, in the order gradients and exports use.</summary>
    public IReadOnlyList<ShardPiece> Pieces { get; }

    /// <summary>Whether a step needs every tensor's trust ratio (LAMB): <see cref="UpdateNorms"/> first, then <see cref="Apply"/> with the ratios.</summary>
    public bool NeedsTrustRatios => _optimizer is Lamb;

    /// <summary>
    /// This shard's share of the squared L2 norm of the step's mean gradient: the shares of a plan's
    /// shards add up to the whole model's, from which the clip coefficient follows.
    /// </summary>
    /// <param name="meanGradients">Each piece's mean gradient, flattened, in <see cref="Pieces"/> order.</param>
    /// <exception cref="ArgumentException">Not one gradient per piece of the piece's length.</exception>
    public double Squares(IReadOnlyList<float[]> meanGradients)
    {
        CheckGradients(meanGradients);
        double sum = 0;
        foreach (var gradient in meanGradients)
            sum += SquaredNorm.Of(gradient);
        return sum;
    }

    /// <summary>
    /// LAMB: the squared norms of the weights and of the update that step's mean gradient times
    /// <paramref name="clipCoefficient"/> would make, one per piece, in <see cref="Pieces"/> order
    /// (<see cref="TrustRatios.Of"/> adds up a tensor's pieces). Nothing changes: the step is taken
    /// by <see cref="Apply"/>.
    /// </summary>
    /// <exception cref="InvalidOperationException">The rule is not LAMB.</exception>
    /// <exception cref="ArgumentException">Not one gradient per piece of the piece's length, or a coefficient outside (0, 1].</exception>
    public TensorNorms[] UpdateNorms(IReadOnlyList<float[]> meanGradients, double clipCoefficient)
    {
        var lamb = _optimizer as Lamb ?? throw new InvalidOperationException("only LAMB has update norms to add up across shards");
        SetGradients(meanGradients, clipCoefficient);
        lamb.Prepare();
        try
        {
            return [.. Pieces.Zip(_parameters, (piece, parameter) =>
            {
                var (weight, update) = lamb.PreparedNorms(parameter)!.Value;
                return new TensorNorms(piece.Name, (double)weight * weight, (double)update * update);
            })];
        }
        finally
        {
            lamb.Discard();
        }
    }

    /// <summary>
    /// Applies one step: each piece's mean gradient times <paramref name="clipCoefficient"/>, then the
    /// rule's step at <paramref name="learningRate"/>. The gradients are copied; the caller keeps them.
    /// </summary>
    /// <param name="clipCoefficient">From the whole model's norm (see the remarks); 1 without clipping.</param>
    /// <param name="trustRatios">LAMB's ratio of every parameter the shard holds rows of, from every shard's <see cref="UpdateNorms"/>; null for the other rules.</param>
    /// <exception cref="ArgumentException">
    /// Not one gradient per piece of the piece's length, a coefficient outside (0, 1], or trust
    /// ratios missing for LAMB (or a piece's) or given to another rule.
    /// </exception>
    public void Apply(IReadOnlyList<float[]> meanGradients, double learningRate, double clipCoefficient = 1, IReadOnlyList<TrustRatio>? trustRatios = null)
    {
        if (_optimizer is not Lamb lamb)
        {
            if (trustRatios is not null)
                throw new ArgumentException("Trust ratios are LAMB's; this shard's rule has none.", nameof(trustRatios));
            SetGradients(meanGradients, clipCoefficient);
            _optimizer.Step(learningRate);
            return;
        }
        if (trustRatios is null)
            throw new ArgumentException("A LAMB step needs every tensor's trust ratio.", nameof(trustRatios));
        var byName = trustRatios.ToDictionary(r => r.Parameter, r => r.Ratio, StringComparer.Ordinal);
        var ratios = new Dictionary<IntPtr, double>();
        foreach (var (piece, parameter) in Pieces.Zip(_parameters))
            ratios[parameter.Handle] = byName.TryGetValue(piece.Name, out var ratio)
                ? ratio
                : throw new ArgumentException($"No trust ratio for '{piece.Name}'.", nameof(trustRatios));
        SetGradients(meanGradients, clipCoefficient);
        // Prepared again rather than kept from UpdateNorms: the same inputs give the same update,
        // and the shard holds no half-taken step between the two rounds.
        lamb.Prepare();
        lamb.Take(learningRate, parameter => ratios[parameter.Handle]);
    }

    private void SetGradients(IReadOnlyList<float[]> meanGradients, double clipCoefficient)
    {
        CheckGradients(meanGradients);
        if (!(clipCoefficient > 0 && clipCoefficient <= 1))
            throw new ArgumentException($"Clip coefficient {clipCoefficient} is not in (0, 1].", nameof(clipCoefficient));
        for (var i = 0; i < _parameters.Length; i++)
        {
            using var grad = _parameters[i].grad!;
            // Made contiguous on the CPU by the constructor's backward, like the parameter.
            TensorPrimitives.Multiply(meanGradients[i], (float)clipCoefficient, MemoryMarshal.Cast<byte, float>(grad.bytes));
        }
    }

    /// <summary>The current values of piece <paramref name="piece"/> (index in <see cref="Pieces"/>), flattened: what a worker pulls.</summary>
    public float[] Values(int piece)
    {
        if (piece < 0 || piece >= _parameters.Length)
            throw new ArgumentOutOfRangeException(nameof(piece), piece, $"The shard's pieces are numbered 0 to {_parameters.Length - 1}.");
        return _parameters[piece].data<float>().ToArray();
    }

    /// <summary>Each piece's values and optimizer state, copied to host memory, in <see cref="Pieces"/> order.</summary>
    public IReadOnlyList<PieceState> Export()
    {
        using var scope = NewDisposeScope();
        return [.. Pieces.Zip(_parameters, (piece, parameter) => new PieceState(piece, ModelState.StateOf(piece.Name, parameter, _optimizer)))];
    }

    public void Dispose()
    {
        _optimizer.Dispose();
        foreach (var parameter in _parameters) parameter.Dispose();
    }

    private void CheckGradients(IReadOnlyList<float[]> gradients)
    {
        ArgumentNullException.ThrowIfNull(gradients);
        if (gradients.Count != Pieces.Count)
            throw new ArgumentException($"{gradients.Count} gradients for a shard of {Pieces.Count} pieces.", nameof(gradients));
        for (var i = 0; i < Pieces.Count; i++)
            if (gradients[i].Length != Pieces[i].Elements)
                throw new ArgumentException($"The gradient of piece {Pieces[i]} holds {gradients[i].Length} values, not its {Pieces[i].Elements}.", nameof(gradients));
    }
}
