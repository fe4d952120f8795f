using Akka.Actor;
using ElasticTrain.Jobs;
using ElasticTrain.Ranks;

namespace ElasticTrain.Coordination;

// The checkpoint schedule: every checkpoint-every steps (and at the end) one rank writes its
// replica's state, the coordinator journals where it lies, then the steps go on. The writer is
// probed meanwhile (Coordinator.Failures), since no exchange runs to notice its death.
public sealed partial class Coordinator
{
    private void AfterStep(long step)
    {
        if (step % Job.CheckpointEvery == 0 || step == Job.Steps)
        {
            var writer = _step!.Plan.Slices[0].Rank; // any replica will do: they are identical
            var path = _setup.Checkpoints.PathFor(Job.Id, step);
            _roster[writer].Endpoint.Tell(new WriteCheckpoint(_state.Generation, step, path, _step.Plan.Slices.Count));
            WatchAwaited(step, $"writing the checkpoint of step {step}", [writer]);
            return; // continues in OnCheckpointWritten
        }
        Continue(step);
    }

    private void OnCheckpointWritten(CheckpointWritten written)
    {
        if (written.Generation != _state.Generation || _step is null || written.Step != _step.Step) return;
        StopWatchingAwaited();
        var checkpoint = new CheckpointRef(written.Step, written.Path, written.Sha256);
        Write(new CheckpointTaken(checkpoint), e =>
        {
            _state = _state.Updated(e);
            _samples.ForgetThrough(written.Step);
            SaveSnapshot(_state);
            _setup.Checkpoints.Prune(Job.Id, written.Path);
            Publish(new CheckpointNotice(written.Step, written.Path, _state.Generation));
            Continue(written.Step);
        });
    }
}
