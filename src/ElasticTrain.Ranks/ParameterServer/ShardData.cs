using System.Numerics.Tensors;
using ElasticTrain.Checkpointing;
using ElasticTrain.Collectives;
using ElasticTrain.Collectives.Transport;
using ElasticTrain.Jobs;
using ElasticTrain.ParameterServer;

namespace ElasticTrain.Ranks.ParameterServer;

/// <summary>
/// A parameter shard's tensors and its door to the data plane: the <see cref="ShardOptimizer"/>
/// over its pieces, the running sum of the step's gradient slices, and the endpoint workers send
/// to, named by the shard's entity id. Everything here blocks (a receive waits for a worker's
/// frames, a load reads a file and a save writes one, an update runs the optimizer), so only the
/// shard's own thread calls it (<see cref="ShardEntity"/> posts the work there);
/// <see cref="ClosePort"/> is the one call safe from elsewhere.
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
    /// <param name="part">The checkpoint is one shard's part, as <see cref="Save"/> wrote it (a sibling's copy): its pieces are taken as they are.</param>
    /// <exception cref="CheckpointException">The checkpoint is missing, damaged, of another job, or does not fit the pieces.</exception>
    public void Load(CheckpointRef? checkpoint, bool part = false)
    {
        var names = Pieces.Select(p => p.Name).Distinct(StringComparer.Ordinal);
        ShardOptimizer loaded;
        if (checkpoint is not null && part)
        {
            var pieces = NamedState.FromSections(StateCheckpoint.Read(checkpoint, _setup.Job, _setup.IdentityHash, names: null));
            loaded = ShardOptimizer.FromPieces(
                [.. Pieces.Select(p => new PieceState(p, pieces[p.ToString()] with { Name = p.Name }))], _setup.Optimizer, _setup.WeightDecay);
        }
        else
        {
            var state = checkpoint is null
                ? _setup.Seed?.Invoke() ?? throw new CheckpointException($"shard {_id} was asked to start from the seed, and its node knows no seed state")
                : NamedState.FromSections(StateCheckpoint.Read(checkpoint, _setup.Job, _setup.IdentityHash, names));
            loaded = new ShardOptimizer(Pieces, state, _setup.Optimizer, _setup.WeightDecay);
        }
        _optimizer?.Dispose();
        _optimizer = loaded;
        Step = checkpoint?.Step ?? 0;
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

    /// <summary>Closes the links of earlier generations and drops the partial sum of a step they fed.</summary>
    public void BeginGeneration(long generation)
    {
        _port.BeginGeneration(generation);
        Reset();
    }

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

    /// <summary>Turns the sums into the mean over <paramref name="globalBatch"/> samples and returns this shard's share of its squared norm.</summary>
    public double Mean(int globalBatch)
    {
        // The float factor a replica divides its all-reduced sum by (UpdateRule), so both modes round alike.
        var scale = 1f / globalBatch;
        foreach (var sum in _sums) TensorPrimitives.Multiply(sum, scale, sum);
        return Optimizer.Squares(_sums);
    }

    /// <summary>LAMB: the norms of the update the mean (after <see cref="Mean"/>) makes at <paramref name="clipCoefficient"/>, applying nothing.</summary>
    public TensorNorms[] UpdateNorms(double clipCoefficient) => Optimizer.UpdateNorms(_sums, clipCoefficient);

    /// <summary>Applies the mean (after <see cref="Mean"/>) as step <paramref name="step"/> and starts the next step's sums from zero.</summary>
    /// <param name="trust">LAMB's trust ratios; null for the other rules.</param>
    public void Apply(long step, double clipCoefficient, double learningRate, IReadOnlyList<TrustRatio>? trust)
    {
        Optimizer.Apply(_sums, learningRate, clipCoefficient, trust);
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
