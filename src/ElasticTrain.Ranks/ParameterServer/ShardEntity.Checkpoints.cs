using Akka.Actor;

namespace ElasticTrain.Ranks.ParameterServer;

// A shard's part of the job's checkpoint: written on the shard's thread when asked, and answered
// from there to whoever asked, since writing changes nothing the entity keeps.
public sealed partial class ShardEntity
{
    /// <summary>
    /// Writes the pieces after step <see cref="WriteShardCheckpoint.Step"/>, which must be the step
    /// held. The write queues behind the work already on the shard's thread: should an apply of the
    /// next step be queued there before it, the data holds that step when the write comes and
    /// refuses, so a part never holds another step than its metadata says.
    /// </summary>
    private void OnWriteCheckpoint(WriteShardCheckpoint write)
    {
        if (_applying)
        {
            Stash.Stash(); // the step to write comes right behind its apply: it waits for it
            return;
        }
        if (!Current(write.Generation)) return;
        var refusal = write.Metadata.Step != write.Step
            ? $"the checkpoint's metadata is of step {write.Metadata.Step}, the command of step {write.Step}"
            : write.Step != _applied ? $"shard {_id} holds step {_applied}, not step {write.Step} to checkpoint" : null;
        if (refusal is not null)
        {
            Sender.Tell(new ShardStepFailed(_id, write.Generation, write.Step, refusal, _applied));
            return;
        }
        var (replyTo, applied) = (Sender, _applied);
        // Not cancelled by a newer generation: the state of a committed step is the same in any.
        _thread.Run(replyTo, CancellationToken.None, _ =>
        {
            var (sha256, parameters) = _data.Save(write.Path, write.Metadata);
            return new ShardCheckpointWritten(_id, write.Generation, write.Step, write.Path, sha256, write.Metadata, parameters);
        }, reason => new ShardStepFailed(_id, write.Generation, write.Step, $"shard {_id} cannot write its part '{write.Path}': {reason}", applied));
    }
}
