using ElasticTrain.Data;
using ElasticTrain.ParameterServer;
using ElasticTrain.Ranks.ParameterServer;

namespace ElasticTrain.Ranks;

// Parameter-server mode: the rank is a worker. It holds the model's values but no optimizer
// state: each step it pushes its slice's gradient sums to the shards, and once the step is
// committed it pulls the values the shards applied. A generation starts by pulling the values
// of its state step (PullShards), so a worker never holds state the shards do not.
//
// Under ssp and asp the coordinator hands a worker steps ahead of the last committed one: the
// worker computes them on the values it holds (stale by up to the staleness), keeps each
// gradient, and pushes it once it has pulled the step before, since a shard takes the pushes of
// one step at a time. With delay compensation it corrects the kept gradient, just before the push,
// by how far the values moved since it was computed (DC-ASGD).
public sealed partial class Rank
{
    /// <summary>A step computed ahead, waiting to be pushed: its gradient, the values it was computed on (with compensation), its report.</summary>
    private sealed record HeldPush(int Samples, float[][][] Gradients, float[][][]? ComputedOn, StepExchanged Report);

    private ShardClient? _shardClient;                  // compute thread: over the replica's parameters
    private IReadOnlyList<ShardAddress> _shardAddresses = []; // this generation's, set by the actor before any step
    private readonly SortedDictionary<long, HeldPush> _heldPushes = []; // compute thread

    private ParameterServerSettings Server => _setup.Training.ParameterServer!;

    private bool RunsAhead => Server.Consistency != Consistency.Bsp;

    /// <summary>Forward and backward over the slice, then the push of its gradient sums to every shard (or, running ahead, once it may).</summary>
    private Func<StepExchanged?> ParameterServerStep(DataLoader.SliceBatch batch, double lossScale, CancellationToken cancellation)
    {
        var shards = _shardAddresses;
        return () =>
        {
            var replica = (Replica)_part!;
            var basedOn = replica.AppliedStep;
            var outcome = replica.Compute(batch.Step, batch.Tokens, batch.SampleIds, lossScale, stale: RunsAhead);
            var report = new StepExchanged(batch.Generation, batch.Step, _setup.Id, outcome.LossSum, batch.SampleIds, outcome.ComputeMs, 0, 0, BasedOn: basedOn);
            if (!RunsAhead)
            {
                // The push waits for nothing but its own frames to leave: all of it is exposed.
                var pushMs = _shardClient!.Push(batch.Generation, batch.Step, batch.SampleIds.Length, shards, _shardClient.Gradients(), cancellation);
                return report with { ExchangeMs = pushMs, ExposedMs = pushMs };
            }
            _heldPushes[batch.Step] = new HeldPush(batch.SampleIds.Length, _shardClient!.Gradients(keep: true),
                Server.DcLambda > 0 ? _shardClient.Values() : null, report);
            return PushHeld(replica, batch.Generation, shards, cancellation);
        };
    }

    /// <summary>On the compute thread: pushes the held step after the one the replica holds, if any, and returns its report.</summary>
    private StepExchanged? PushHeld(Replica replica, long generation, IReadOnlyList<ShardAddress> shards, CancellationToken cancellation)
    {
        if (!_heldPushes.Remove(replica.AppliedStep + 1, out var held)) return null;
        if (held.ComputedOn is { } computedOn) _shardClient!.Compensate(held.Gradients, computedOn, held.Samples, Server.DcLambda);
        var pushMs = _shardClient!.Push(generation, held.Report.Step, held.Samples, shards, held.Gradients, cancellation);
        return held.Report with { ExchangeMs = pushMs, ExposedMs = pushMs };
    }

    /// <summary>The step is committed: pull the values the shards applied (then push the step after it, if it was computed ahead).</summary>
    private void PullApplied(ApplyStep apply)
    {
        var shards = _shardAddresses;
        var cancellation = _generationCancel.Token;
        OnCompute(apply.Generation, apply.Step, Sender, () =>
        {
            var replica = (Replica)_part!;
            PullValues(replica, apply.Generation, apply.Step, shards, cancellation);
            return PushHeld(replica, apply.Generation, shards, cancellation);
        });
    }

    /// <summary>
    /// On the compute thread, as a generation starts: the replica (kept, or built from the seed) takes
    /// the shards' values at <paramref name="prepare"/>'s state step; returns the rank's report.
    /// </summary>
    private RankReady PullState(PrepareRank prepare, PullShards pull, CancellationToken cancellation)
    {
        _heldPushes.Clear(); // computed ahead in the generation before: those steps run again
        if (_part is not Replica replica)
        {
            replica = (Replica)NewPart(prepare.Mesh);
            _part?.Dispose();
            _part = replica;
            _shardClient = null;
        }
        var access = _setup.Shards!;
        _shardClient ??= new ShardClient(access.Plan, replica.NamedParameters, _stages, access.Region, _setup.Id, _setup.Port.Address, _setup.Exchange.Timeout);
        replica.DiscardPending();
        PullValues(replica, prepare.Generation, prepare.StateStep, pull.Shards, cancellation);
        return new RankReady(prepare.Generation, _setup.Id, replica.AppliedStep);
    }

    /// <summary>On the compute thread: the replica takes the shards' values after <paramref name="step"/> and holds that step.</summary>
    private void PullValues(Replica replica, long generation, long step, IReadOnlyList<ShardAddress> shards, CancellationToken cancellation)
    {
        _shardClient!.Pull(generation, step, shards, cancellation);
        replica.Pulled(step);
        _held = new Held(step, replica.Layers);
    }
}
