using Akka.Actor;

namespace ElasticTrain.Ranks.ParameterServer;

// LAMB's extra round (ShardOptimizer's remarks): once every replica holds every slice of the step,
// the planner sends the clip coefficient, each replica measures the update it would make and
// reports its rows' norms, and the apply then carries every tensor's trust ratio. Measuring
// changes nothing, so a step that fails between the rounds leaves the shard at its applied step.
public sealed partial class ShardEntity
{
    private sealed record Measured(long Generation, long Step, TensorNorms[] Norms);

    private void OnMeasure(MeasureShardUpdate measure)
    {
        if (!Current(measure.Generation)) return;
        if (measure.Step != _tally.Step || _squares is null)
        {
            Sender.Tell(new ShardStepFailed(_id, measure.Generation, measure.Step, $"shard {_id} has not every slice of step {measure.Step} (it holds step {_applied})", _applied));
            return;
        }
        var (generation, step) = (measure.Generation, measure.Step);
        _thread.Run(Self, _stepCancel.Token, _ => new Measured(generation, step, _data.UpdateNorms(measure.ClipCoefficient)),
            reason => new Failed(generation, step, reason, null));
    }

    private void OnMeasured(Measured measured)
    {
        if (measured.Generation != _generation || measured.Step != _tally.Step || _squares is null) return;
        _planner?.Tell(new ShardUpdateNorms(_id, measured.Generation, measured.Step, measured.Norms));
    }
}
