using Akka.Actor;
using ElasticTrain.Jobs;
using ElasticTrain.Ranks;

namespace ElasticTrain.Coordination;

// The checkpoint schedule: every checkpoint-every steps (and at the end) one rank writes its
// replica's state, the coordinator journals where it lies, then the steps go on. The writer is
// watched meanwhile, since no exchange runs to notice its death.
public sealed partial class Coordinator
{
    private sealed record ProbeCheckpointWriter(long Generation, long Step);

    /// <summary>The rank writing the step's checkpoint, and whether it answered the last probe.</summary>
    private sealed record WriterProbe(RankId Writer, long Step, bool Answered);

    private WriterProbe? _writerProbe;

    /// <summary>
    /// A checkpoint is written by one rank, with no exchange whose broken links would tell of its
    /// death: ask it whether it lives every liveness interval, and end the generation when it
    /// misses an answer, instead of waiting for the failure detector.
    /// </summary>
    private void WatchCheckpointWriter(RankId writer, long step)
    {
        _writerProbe = new WriterProbe(writer, step, Answered: true);
        Timers.StartPeriodicTimer("checkpoint-probe", new ProbeCheckpointWriter(_state.Generation, step), _setup.Liveness);
    }

    private void StopWatchingCheckpointWriter()
    {
        _writerProbe = null;
        Timers.Cancel("checkpoint-probe");
    }

    private void OnProbeCheckpointWriter(ProbeCheckpointWriter probe)
    {
        if (_writerProbe is not { } watched || probe.Generation != _state.Generation || watched.Step != probe.Step || !_roster.Contains(watched.Writer))
        {
            StopWatchingCheckpointWriter();
            return;
        }
        if (!watched.Answered)
        {
            Abort($"rank {watched.Writer} did not answer while writing the checkpoint of step {watched.Step}", verify: true);
            return;
        }
        _writerProbe = watched with { Answered = false };
        _roster[watched.Writer].Endpoint.Tell(GetRankStatus.Instance);
    }

    private void AfterStep(long step)
    {
        if (step % Job.CheckpointEvery == 0 || step == Job.Steps)
        {
            var writer = _step!.Plan.Slices[0].Rank; // any replica will do: they are identical
            var path = _setup.Checkpoints.PathFor(Job.Id, step);
            _roster[writer].Endpoint.Tell(new WriteCheckpoint(_state.Generation, step, path, _step.Plan.Slices.Count));
            WatchCheckpointWriter(writer, step);
            return; // continues in OnCheckpointWritten
        }
        Continue(step);
    }

    private void OnCheckpointWritten(CheckpointWritten written)
    {
        if (written.Generation != _state.Generation || _step is null || written.Step != _step.Step) return;
        StopWatchingCheckpointWriter();
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
