using Akka.Actor;
using ElasticTrain.Jobs;
using ElasticTrain.Ranks;

namespace ElasticTrain.Coordination;

// The checkpoint schedule: every checkpoint-every steps (and at the end) the first replica writes
// its state: one file from a whole replica, or one part per stage of a pipeline, listed with
// their hashes in a manifest. The coordinator journals where the checkpoint lies, then the steps
// go on. The writers are probed meanwhile (Coordinator.Failures), since no exchange runs to
// notice a death.
public sealed partial class Coordinator
{
    private CheckpointParts? _writing;
    private readonly System.Diagnostics.Stopwatch _checkpointClock = new();

    private void AfterStep(long step)
    {
        if (EvaluationDue(step))
        {
            Evaluate(step, () => AfterStep(step));
            return; // comes back here once the ranks have answered
        }
        if (step % Job.CheckpointEvery == 0 || step == Job.Steps)
        {
            if (ParameterServerMode)
            {
                WriteShardCheckpoints(step);
                return; // continues in OnShardCheckpointWritten
            }
            var writers = _mesh!.Grid[0]; // any replica will do: they are identical
            var paths = writers.Length == 1
                ? [_setup.Checkpoints.PathFor(Job.Id, step)]
                : writers.Select((_, stage) => _setup.Checkpoints.PartPathFor(Job.Id, step, stage, writers.Length)).ToArray();
            _writing = new CheckpointParts(step, paths);
            _checkpointClock.Restart();
            for (var s = 0; s < writers.Length; s++)
                _roster[writers[s]].Endpoint.Tell(new WriteCheckpoint(_state.Generation, step, paths[s], _step!.Plan.Slices.Count));
            WatchAwaited(step, $"writing the checkpoint of step {step}", writers);
            return; // continues in OnCheckpointWritten
        }
        Continue(step);
    }

    private void OnCheckpointWritten(CheckpointWritten written) =>
        OnPartWritten(written.Generation, written.Path, written.Step, written.Sha256, written.Metadata, written.Parameters);

    /// <summary>A writer (a rank, or a parameter shard) reports its part; once all are in, the checkpoint is journaled.</summary>
    private void OnPartWritten(long generation, string path, long step, string sha256, Checkpointing.CheckpointMetadata metadata, IReadOnlyList<string> parameters)
    {
        if (generation != _state.Generation || _step is null || _writing is not { } writing || step != writing.Step) return;
        if (!writing.Add(path, step, sha256, metadata, parameters) || !writing.Complete) return;
        _writing = null;
        StopWatchingAwaited();
        CheckpointRef checkpoint;
        try
        {
            checkpoint = writing.Commit(_setup.Checkpoints, Job.Id);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or Checkpointing.CheckpointException)
        {
            Fail($"cannot write checkpoint of step {step}: {e.Message}", badInput: false);
            return;
        }
        Write(new CheckpointTaken(checkpoint), e =>
        {
            _state = _state.Updated(e);
            _samples.ForgetThrough(checkpoint.Step);
            SaveSnapshot(new JobSnapshot(_state, [.. _overflows]));
            _setup.Checkpoints.Prune(Job.Id, checkpoint.Path);
            Publish(new CheckpointNotice(checkpoint.Step, checkpoint.Path, _state.Generation, _checkpointClock.Elapsed.TotalMilliseconds));
            Continue(checkpoint.Step);
        });
    }
}
