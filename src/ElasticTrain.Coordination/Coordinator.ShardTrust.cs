using Akka.Actor;
using ElasticTrain.Coordination.ParameterServer;
using ElasticTrain.ParameterServer;
using ElasticTrain.Ranks.ParameterServer;
using ElasticTrain.Training;

namespace ElasticTrain.Coordination;

// LAMB in parameter-server mode. A tensor's trust ratio needs the whole tensor's norms, and a shard
// may hold only rows of it, so a LAMB step takes one more round before its commit: once every
// replica has every slice, each is sent the clip coefficient and reports the norms of the update it
// would make (MeasureShardUpdate); the coordinator adds them up per tensor (TrustRound) and the
// apply carries every ratio. Nothing is committed, journaled or applied before the ratios are
// known, so a failure during the round leaves the step to be run again, as a failure before it does.
public sealed partial class Coordinator
{
    private TrustRound? _trustRound; // the step in flight's second round, while its norms come

    private bool MeasuresTrust => _setup.Training.Optimizer.Kind == OptimizerKind.Lamb;

    /// <summary>
    /// Whether the shards let the step in flight commit: every replica has every slice (the squared
    /// gradient norm is added up) and, with LAMB, every tensor's trust ratio is known. Starts LAMB's
    /// round once the squares are in.
    /// </summary>
    /// <param name="trust">LAMB's ratios, for the apply; null for the other rules.</param>
    private bool ShardsReadyToCommit(out double squares, out TrustRatio[]? trust)
    {
        trust = null;
        if (_trustRound is { } round)
        {
            squares = round.GradientSquares;
            if (round.Ratios() is not { } ratios)
            {
                WatchMissingShards(_step!.Step);
                return false;
            }
            Timers.Cancel("shard-probe");
            _trustRound = null;
            trust = ratios;
            return true;
        }
        if (!TakeShardSquares(out squares)) return false;
        // A gradient that is not finite fails the job at the commit: there is no update to measure.
        if (!MeasuresTrust || !double.IsFinite(squares)) return true;
        _trustRound = new TrustRound(squares, Replicas);
        var coefficient = ShardClip(squares);
        foreach (var replica in Replicas)
            Region.Tell(new MeasureShardUpdate(replica, _state.Generation, _step!.Step, coefficient));
        return false;
    }

    private void OnShardUpdateNorms(ShardUpdateNorms norms)
    {
        if (norms.Generation != _state.Generation || _step is not { } tally || norms.Step != tally.Step || _trustRound is not { } round) return;
        round.Add(norms.Shard, norms.Norms);
        if (tally.Complete) TryCommit(tally);
    }
}
