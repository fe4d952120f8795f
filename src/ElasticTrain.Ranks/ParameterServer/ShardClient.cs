using System.Diagnostics;
using System.Runtime.InteropServices;
using Akka.Actor;
using ElasticTrain.Collectives;
using ElasticTrain.Collectives.Transport;
using ElasticTrain.Jobs;
using ElasticTrain.ParameterServer;
using static TorchSharp.torch;

namespace ElasticTrain.Ranks.ParameterServer;

/// <summary>
/// A worker's side of the parameter shards (see <c>ShardProtocol.cs</c>): it pushes the gradient
/// sums of its slice, piece by piece, to the shards that hold the pieces, and pulls the values the
/// shards applied back into its model's parameters. The tensors travel on the data plane; the
/// region carries only the control messages. Blocks on the data plane, so it runs on the rank's
/// compute thread, like the replica whose parameters it reads and writes.
/// </summary>
/// <remarks>
/// Each piece is a row range of one parameter, one contiguous run of its row-major elements, so
/// it is copied straight out of the gradient and into the values. A piece's buffer is kept from step
/// to step: a push's frames may still be on their way when the next pull reuses it for its values,
/// so a push waits until its frames have left (the socket's buffer, or the peer's hands in-process).
/// </remarks>
public sealed class ShardClient
{
    private readonly ShardPlan _plan;
    private readonly IReadOnlyDictionary<string, Tensor> _parameters;
    private readonly PointToPoint _tensors;
    private readonly IActorRef _region;
    private readonly RankId _worker;
    private readonly string _dataPlane;
    private readonly TimeSpan _timeout;
    private readonly float[][][] _buffers; // per shard, per piece

    /// <param name="parameters">The model's parameters by name (<see cref="Replica.NamedParameters"/>): every piece's parameter among them.</param>
    /// <param name="tensors">The worker's door to the data plane.</param>
    /// <param name="region">The job's shard region (or a proxy of it) on the worker's node.</param>
    /// <param name="dataPlane">Where the worker's node takes tensors (HOST:PORT): where the shards send values.</param>
    /// <exception cref="ArgumentException">A piece whose parameter the model lacks, or holds in another number of elements.</exception>
    public ShardClient(ShardPlan plan, IReadOnlyDictionary<string, Tensor> parameters, PointToPoint tensors, IActorRef region, RankId worker,
        string dataPlane, TimeSpan timeout)
    {
        _plan = plan;
        _parameters = parameters;
        _tensors = tensors;
        _region = region;
        _worker = worker;
        _dataPlane = dataPlane;
        _timeout = timeout;
        foreach (var shape in plan.Parameters)
        {
            if (!parameters.TryGetValue(shape.Name, out var parameter))
                throw new ArgumentException($"The model has no parameter '{shape.Name}' of the shard plan.", nameof(parameters));
            if (parameter.numel() != shape.Elements)
                throw new ArgumentException($"Parameter '{shape.Name}' holds {parameter.numel()} values; the shard plan's has {shape.Elements}.", nameof(parameters));
        }
        _buffers = [.. Enumerable.Range(0, plan.Shards).Select(s => plan.PiecesOf(s).Select(p => new float[p.Elements]).ToArray())];
    }

    /// <summary>
    /// Every piece's rows of the gradients backward left in the parameters, per shard and piece: into
    /// the client's own buffers, reused by the next call (<paramref name="keep"/> false: pushed at
    /// once), or into new ones the caller keeps (a worker running ahead holds them until it may push).
    /// </summary>
    public float[][][] Gradients(bool keep = false) => Copy(keep, piece => Gradient(piece));

    /// <summary>Every piece's current values, in new buffers: what a gradient is computed on, for delay compensation.</summary>
    public float[][][] Values() => Copy(keep: true, piece => _parameters[piece.Name]);

    /// <summary>
    /// DC-ASGD (<see cref="DelayCompensation"/>) on a gradient sum of <paramref name="samples"/>
    /// samples computed on <paramref name="computedOn"/>, towards the values the model holds now: the
    /// correction is the per-sample mean's, g + lambda * g ⊙ g ⊙ (w - w_stale) with g = sum / samples,
    /// scaled back to a sum.
    /// </summary>
    public void Compensate(float[][][] gradients, float[][][] computedOn, int samples, double lambda)
    {
        var now = Values();
        for (var shard = 0; shard < gradients.Length; shard++)
            for (var piece = 0; piece < gradients[shard].Length; piece++)
            {
                var sum = gradients[shard][piece];
                System.Numerics.Tensors.TensorPrimitives.Multiply(sum, 1f / samples, sum);
                DelayCompensation.Compensate(sum, now[shard][piece], computedOn[shard][piece], lambda);
                System.Numerics.Tensors.TensorPrimitives.Multiply(sum, samples, sum);
            }
    }

    private float[][][] Copy(bool keep, Func<ShardPiece, Tensor> of)
    {
        var into = keep ? [.. _buffers.Select(pieces => pieces.Select(b => new float[b.Length]).ToArray())] : _buffers;
        for (var shard = 0; shard < _plan.Shards; shard++)
        {
            var pieces = _plan.PiecesOf(shard);
            for (var piece = 0; piece < pieces.Count; piece++) CopyRows(of(pieces[piece]), pieces[piece], into[shard][piece]);
        }
        return into;
    }

    /// <summary>
    /// Sends every piece's gradient sum (<paramref name="gradients"/>, from <see cref="Gradients"/>)
    /// over the worker's <paramref name="samples"/> samples of step <paramref name="step"/> to each
    /// replica of its shard (the shard, and its backup when it has one), then the push itself;
    /// returns once every frame has left.
    /// </summary>
    /// <param name="shards">Every replica of every shard, a shard's before its backup.</param>
    /// <returns>The milliseconds the push took.</returns>
    public double Push(long generation, long step, int samples, IReadOnlyList<ShardAddress> shards, float[][][] gradients, CancellationToken cancellation)
    {
        var clock = Stopwatch.StartNew();
        var sent = new SendTracker();
        foreach (var replicas in shards.GroupBy(s => s.Shard.Index))
        {
            var index = replicas.Key;
            var pieces = _plan.PiecesOf(index);
            foreach (var replica in replicas)
            {
                var to = new ExchangeMember(replica.Shard.EntityId, replica.DataPlane);
                for (var piece = 0; piece < pieces.Count; piece++)
                    _tensors.Send(to, new ShardMessage(generation, step, index, piece, DataChannel.ShardGradients), gradients[index][piece], sent, cancellation);
                _region.Tell(new PushGradients(replica.Shard, generation, step, _worker, samples));
            }
        }
        sent.WaitAll(_timeout);
        return clock.Elapsed.TotalMilliseconds;
    }

    /// <summary>
    /// Asks one replica of every shard (the first given: the shard, not its backup, while it lives)
    /// for its values after step <paramref name="step"/> (a replica answers once it has applied the
    /// step) and writes them into the model's parameters.
    /// </summary>
    /// <returns>The milliseconds the pull took.</returns>
    public double Pull(long generation, long step, IReadOnlyList<ShardAddress> shards, CancellationToken cancellation)
    {
        var clock = Stopwatch.StartNew();
        var sources = shards.GroupBy(s => s.Shard.Index).Select(g => g.First()).ToList();
        // Every shard at once: they send in parallel, and the frames wait in the port until read.
        foreach (var shard in sources) _region.Tell(new PullShard(shard.Shard, generation, step, _worker, _dataPlane));
        foreach (var shard in sources)
        {
            var pieces = _plan.PiecesOf(shard.Shard.Index);
            for (var piece = 0; piece < pieces.Count; piece++)
            {
                var buffer = _buffers[shard.Shard.Index][piece];
                _tensors.Receive(shard.Shard.EntityId, new ShardMessage(generation, step, shard.Shard.Index, piece, DataChannel.ShardValues), buffer.AsSpan(), cancellation);
                WriteRows(pieces[piece], buffer);
            }
        }
        return clock.Elapsed.TotalMilliseconds;
    }

    private Tensor Gradient(ShardPiece piece) =>
        _parameters[piece.Name].grad ?? throw new InvalidOperationException($"parameter '{piece.Name}' has no gradient: the step's backward did not reach it");

    /// <summary>The piece's rows of <paramref name="whole"/> (the parameter or its gradient) into <paramref name="buffer"/>.</summary>
    private static void CopyRows(Tensor whole, ShardPiece piece, float[] buffer)
    {
        using var scope = NewDisposeScope();
        var host = whole.device_type == TorchSharp.DeviceType.CPU && whole.is_contiguous() ? whole : whole.detach().cpu().contiguous();
        MemoryMarshal.Cast<byte, float>(host.bytes).Slice(Offset(piece), buffer.Length).CopyTo(buffer);
    }

    /// <summary>The pulled values of <paramref name="piece"/> into its rows of the parameter.</summary>
    private void WriteRows(ShardPiece piece, float[] values)
    {
        var parameter = _parameters[piece.Name];
        if (parameter.device_type == TorchSharp.DeviceType.CPU && parameter.is_contiguous())
        {
            values.CopyTo(MemoryMarshal.Cast<byte, float>(parameter.bytes).Slice(Offset(piece), values.Length));
            return;
        }
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var rows = tensor(values).reshape([.. piece.Shape]);
        parameter.narrow(0, piece.FirstRow, piece.Rows).copy_(rows);
    }

    private static int Offset(ShardPiece piece) => checked((int)piece.FirstElement);
}
