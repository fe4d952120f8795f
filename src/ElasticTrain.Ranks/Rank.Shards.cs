using ElasticTrain.Data;
using ElasticTrain.Ranks.ParameterServer;

namespace ElasticTrain.Ranks;

// Parameter-server mode: the rank is a worker. It holds the model's values but no optimizer
// state: each step it pushes its slice's gradient sums to the shards, and once the step is
// committed it pulls the values the shards applied. A generation starts by pulling the values
// of its state step (PullShards), so a worker never holds state the shards do not.
public sealed partial class Rank
{
    private ShardClient? _shardClient;                  // compute thread: over the replica's parameters
    private IReadOnlyList<ShardAddress> _shardAddresses = []; // this generation's, set by the actor before any step

    /// <summary>Forward and backward over the slice, then the push of its gradient sums to every shard.</summary>
    private Func<StepExchanged> ParameterServerStep(DataLoader.SliceBatch batch, double lossScale, CancellationToken cancellation)
    {
        var shards = _shardAddresses;
        return () =>
        {
            var outcome = ((Replica)_part!).Compute(batch.Step, batch.Tokens, batch.SampleIds, lossScale);
            var pushMs = _shardClient!.Push(batch.Generation, batch.Step, batch.SampleIds.Length, shards, cancellation);
            // The push waits for nothing but its own frames to leave: all of it is exposed.
            return new StepExchanged(batch.Generation, batch.Step, _setup.Id, outcome.LossSum, batch.SampleIds, outcome.ComputeMs, pushMs, pushMs);
        };
    }

    /// <summary>The step is committed: pull the values the shards applied.</summary>
    private void PullApplied(ApplyStep apply)
    {
        var shards = _shardAddresses;
        var cancellation = _generationCancel.Token;
        OnCompute(apply.Generation, apply.Step, Sender, () =>
        {
            var replica = (Replica)_part!;
            _shardClient!.Pull(apply.Generation, apply.Step, shards, cancellation);
            replica.Pulled(apply.Step);
            _held = new Held(apply.Step, replica.Layers);
            return null;
        });
    }

    /// <summary>
    /// On the compute thread, as a generation starts: the replica (kept, or built from the seed) takes
    /// the shards' values at <paramref name="prepare"/>'s state step; returns the rank's report.
    /// </summary>
    private RankReady PullState(PrepareRank prepare, PullShards pull, CancellationToken cancellation)
    {
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
        _shardClient.Pull(prepare.Generation, prepare.StateStep, pull.Shards, cancellation);
        replica.Pulled(prepare.StateStep);
        _held = new Held(replica.AppliedStep, replica.Layers);
        return new RankReady(prepare.Generation, _setup.Id, replica.AppliedStep);
    }
}
