using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using ElasticTrain.Checkpointing;
using ElasticTrain.Collectives;
using ElasticTrain.Collectives.Transport;
using ElasticTrain.Jobs;
using ElasticTrain.ParameterServer;
using static TorchSharp.torch;

namespace ElasticTrain.Ranks.ParameterServer;

/// <summary>
/// A parameter shard's tensors and its door to the data plane: the <see cref="ShardOptimizer"/>
/// over its pieces, the running sum of the step's gradient slices, and the endpoint workers send
/// to, named by the shard's entity id. Everything here blocks (a receive waits for a worker's
/// frames, a load reads a file and a save writes one, an update runs the optimizer), so only the
/// shard's own thread calls it (<see cref="ShardEntity"/> posts the work there);
/// <see cref="LeaveEarlierGenerations"/> and <see cref="ClosePort"/> are the calls safe from elsewhere.
/// </summary>
internal sealed class ShardData : IDisposable
{
    private readonly ShardSetup _setup;
    private readonly ShardId _id;
    private readonly RankPort _port;
    private readonly PointToPoint _tensors;
    /// <summary>Per piece: the sum of the step's slices, then (after <see cref="Mean"/>) their mean.</summary>
    private readonly float[][] _sums;
    private ShardOptimizer? _optimizer;

    public ShardData(ShardSetup setup, ShardId id)
    {
        _setup = setup;
        _id = id;
        Pieces = setup.Plan.PiecesOf(id.Index);
        _port = setup.Transport.Open(id.EntityId);
        _tensors = new PointToPoint(_port, setup.ExchangeTimeout);
        _sums = [.. Pieces.Select(p => new float[p.Elements])];
    }

    public IReadOnlyList<ShardPiece> Pieces { get; }

    /// <summary>Where workers send to and pull from: this node's data plane (HOST:PORT).</summary>
    public string DataPlane => _port.Address;

    /// <summary>The step whose update the pieces hold: the loaded checkpoint's, then each applied one's (-1 before a load).</summary>
    public long Step { get; private set; } = -1;

    private ShardOptimizer Optimizer => _optimizer ?? throw new InvalidOperationException($"shard {_id} holds no state: it was never loaded");

    /// <summary>
    /// Reads the pieces' parameters (only theirs) from the checkpoint, or (null) takes them from the
    /// job's seed; on failure the shard keeps what it held.
    /// </summary>
    /// <exception cref="CheckpointException">The checkpoint is missing, damaged, of another job, or does not fit the pieces.</exception>
    public void Load(CheckpointRef? checkpoint)
    {
        var names = Pieces.Select(p => p.Name).Distinct(StringComparer.Ordinal);
        var state = checkpoint is null
            ? _setup.Seed?.Invoke() ?? throw new CheckpointException($"shard {_id} was asked to start from the seed, and its node knows no seed state")
            : NamedState.FromSections(StateCheckpoint.Read(checkpoint, _setup.Job, _setup.IdentityHash, names));
        Hold(new ShardOptimizer(Pieces, state, _setup.Optimizer, _setup.WeightDecay), checkpoint?.Step ?? 0);
    }

    /// <summary>
    /// Sends every piece's values and optimizer state to the sibling <paramref name="to"/> at
    /// <paramref name="dataPlane"/>, after telling <paramref name="announce"/> how each is laid out
    /// (the sibling cannot read them without it), and waits until they are on their way.
    /// </summary>
    /// <exception cref="InvalidOperationException">A tensor of the state that is not float32 of the piece's size.</exception>
    public void SendState(long generation, ShardId to, string dataPlane, Action<PieceLayout[]> announce, CancellationToken cancellation)
    {
        var pieces = Optimizer.Export();
        announce([.. pieces.Select(p => new PieceLayout(p.State.Step, [.. p.State.Slots.Select(s => s.Name)]))]);
        var member = new ExchangeMember(to.EntityId, dataPlane);
        var sent = new SendTracker();
        for (var piece = 0; piece < pieces.Count; piece++)
            _tensors.Send(member, Message(generation, Step, piece, DataChannel.ShardState), Flatten(pieces[piece]), sent, cancellation);
        sent.WaitAll(_setup.ExchangeTimeout);
    }

    /// <summary>
    /// Takes the state of <paramref name="step"/> that the sibling <paramref name="from"/> sends
    /// (<see cref="SendState"/>) in place of what the shard held; on failure the shard keeps it.
    /// </summary>
    /// <exception cref="ArgumentException">A layout that is not one per piece.</exception>
    public void ReceiveState(long generation, long step, ShardId from, IReadOnlyList<PieceLayout> layout, CancellationToken cancellation)
    {
        if (layout.Count != Pieces.Count)
            throw new ArgumentException($"{from} offers {layout.Count} pieces; shard {_id} has {Pieces.Count}", nameof(layout));
        var states = new List<PieceState>(Pieces.Count);
        for (var i = 0; i < Pieces.Count; i++)
        {
            var (piece, slots) = (Pieces[i], layout[i].Slots);
            var elements = (int)piece.Elements;
            var buffer = new float[elements * (1 + slots.Length)];
            _tensors.Receive(from.EntityId, Message(generation, step, i, DataChannel.ShardState), buffer, cancellation);
            TensorBytes Part(int k) => new(nameof(ScalarType.Float32), piece.Shape, MemoryMarshal.AsBytes(buffer.AsSpan(k * elements, elements)).ToArray());
            states.Add(new PieceState(piece, new ParameterState(piece.Name, Part(0), layout[i].Step, [.. slots.Select((slot, k) => new StateSlot(slot, Part(k + 1)))])));
        }
        Hold(ShardOptimizer.FromPieces(states, _setup.Optimizer, _setup.WeightDecay), step);
    }

    /// <summary>A piece's values, then each slot, in one run of floats: what travels to a sibling.</summary>
    private float[] Flatten(PieceState piece)
    {
        var tensors = piece.State.Slots.Select(s => (Name: s.Name, Tensor: s.Tensor)).Prepend((Name: "values", Tensor: piece.State.Value)).ToList();
        foreach (var (name, tensor) in tensors)
            if (tensor.DType != nameof(ScalarType.Float32) || tensor.Data.Length != piece.Piece.Bytes)
                throw new InvalidOperationException($"shard {_id}: the {name} of piece {piece.Piece} are {tensor.DType} in {tensor.Data.Length} bytes, not float32 in {piece.Piece.Bytes}");
        var flat = new float[piece.Piece.Elements * tensors.Count];
        for (var k = 0; k < tensors.Count; k++)
            MemoryMarshal.Cast<byte, float>(tensors[k].Tensor.Data).CopyTo(flat.AsSpan((int)(k * piece.Piece.Elements)));
        return flat;
    }

    private void Hold(ShardOptimizer optimizer, long step)
    {
        _optimizer?.Dispose();
        _optimizer = optimizer;
        Step = step;
        Reset();
    }

    /// <summary>
    /// Writes the pieces' values and optimizer state as the shard's part of a checkpoint; returns the
    /// part's SHA-256 and its entries for the manifest. Each piece's section is keyed by the piece's
    /// text (<c>fc1.weight[22,39)</c>; a whole parameter by its plain name), which
    /// <see cref="CheckpointPiece"/> reads and <see cref="CheckpointReader"/> joins across the parts.
    /// </summary>
    /// <exception cref="InvalidOperationException">The pieces hold another step than <paramref name="metadata"/>'s.</exception>
    /// <exception cref="IOException">The file cannot be written.</exception>
    public (string Sha256, string[] Parameters) Save(string path, CheckpointMetadata metadata)
    {
        if (metadata.Step != Step)
            throw new InvalidOperationException($"shard {_id} holds step {Step}, not step {metadata.Step} to checkpoint");
        var entries = Optimizer.Export().Select(p => p.State with { Name = p.Piece.ToString() }).ToList();
        var sha = CheckpointFile.Write(path, metadata, new NamedState(entries).ToSections());
        return (sha, [.. entries.Select(e => e.Name)]);
    }

    /// <summary>
    /// Closes the links of earlier generations, so that whatever of theirs the shard's thread waits
    /// on fails now; safe from any thread.
    /// </summary>
    public void LeaveEarlierGenerations(long generation) => _port.BeginGeneration(generation);

    /// <summary>
    /// Reads <paramref name="worker"/>'s gradient sum of every piece for <paramref name="step"/>:
    /// added to the step's sums when <paramref name="count"/>, else read and dropped (a repeated
    /// push: its frames must still leave the link, or the next push would read them).
    /// </summary>
    public void Receive(long generation, long step, RankId worker, bool count, CancellationToken cancellation)
    {
        for (var piece = 0; piece < Pieces.Count; piece++)
        {
            var target = count ? _sums[piece] : new float[Pieces[piece].Elements];
            _tensors.Receive(worker.ToString(), Message(generation, step, piece, DataChannel.ShardGradients), target, cancellation, add: count);
        }
    }

    /// <summary>
    /// Turns the sums into the mean over <paramref name="globalBatch"/> samples, with the loss scale
    /// divided out, and returns this shard's share of its squared norm: not finite when a worker's
    /// gradient overflowed.
    /// </summary>
    public double Mean(int globalBatch, double lossScale = 1)
    {
        // Unscaled, the float factor a replica divides its all-reduced sum by (UpdateRule), so both modes round alike.
        var scale = lossScale == 1 ? 1f / globalBatch : (float)(1 / (globalBatch * lossScale));
        foreach (var sum in _sums) TensorPrimitives.Multiply(sum, scale, sum);
        return Optimizer.Squares(_sums);
    }

    /// <summary>LAMB: the norms of the update the mean (after <see cref="Mean"/>) makes at <paramref name="clipCoefficient"/>, applying nothing.</summary>
    public TensorNorms[] UpdateNorms(double clipCoefficient) => Optimizer.UpdateNorms(_sums, clipCoefficient);

    /// <summary>Applies the mean (after <see cref="Mean"/>) as step <paramref name="step"/> and starts the next step's sums from zero.</summary>
    /// <param name="trust">LAMB's trust ratios; null for the other rules.</param>
    /// <param name="skip">The step overflowed (fp16): it is held with the values and optimizer state unchanged.</param>
    public void Apply(long step, double clipCoefficient, double learningRate, IReadOnlyList<TrustRatio>? trust, bool skip = false)
    {
        if (!skip) Optimizer.Apply(_sums, learningRate, clipCoefficient, trust);
        Step = step;
        Reset();
    }

    /// <summary>Sends every piece's current values to <paramref name="worker"/> and waits until they are on their way.</summary>
    public void Send(long generation, long step, RankId worker, string dataPlane, CancellationToken cancellation)
    {
        var to = new ExchangeMember(worker.ToString(), dataPlane);
        var sent = new SendTracker();
        for (var piece = 0; piece < Pieces.Count; piece++)
            _tensors.Send(to, Message(generation, step, piece, DataChannel.ShardValues), Optimizer.Values(piece), sent, cancellation);
        // Over TCP done once in the socket's buffer; in this process, once the worker has read them.
        sent.WaitAll(_setup.ExchangeTimeout);
    }

    /// <summary>Fails every receive and send of the generation at once, here and, as links close, at the workers.</summary>
    public void Abort() => _port.Abort();

    /// <summary>Detaches the endpoint, failing anything in flight; safe from any thread.</summary>
    public void ClosePort() => _port.Dispose();

    public void Reset()
    {
        foreach (var sum in _sums) Array.Clear(sum);
    }

    private ShardMessage Message(long generation, long step, int piece, DataChannel channel) => new(generation, step, _id.Index, piece, channel);

    public void Dispose()
    {
        _port.Dispose();
        _optimizer?.Dispose();
    }
}
