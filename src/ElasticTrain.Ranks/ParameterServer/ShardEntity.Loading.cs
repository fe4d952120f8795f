using Akka.Actor;

namespace ElasticTrain.Ranks.ParameterServer;

// A shard's state arrives by a load: from a checkpoint, from a sibling's copy, or from the seed.
// Sharding starts an entity wherever it places it, holding nothing; only a load gives it its pieces.
public sealed partial class ShardEntity
{
    private int _loadsInFlight; // loads posted to the shard's thread and not yet answered

    /// <summary>
    /// Until a load is done: everything but status and loads waits in the stash. A shard that holds
    /// nothing and is loading nothing (it started here without its state: moved, or its node came
    /// back) refuses the coordinator's step commands at once, so that the job re-plans in a moment
    /// instead of waiting out a step's timeout.
    /// </summary>
    private void Loading()
    {
        Receive<GetShardStatus>(_ => Sender.Tell(Status()));
        Receive<LoadShard>(OnLoad);
        Receive<Loaded>(OnLoaded);
        Receive<LoadFailed>(OnLoadFailed);
        Receive<ExpectStep>(e => RefuseOrWait(e.Generation, e.Step));
        Receive<ApplyShardStep>(a => RefuseOrWait(a.Generation, a.Step));
        Receive<WriteShardCheckpoint>(w => RefuseOrWait(w.Generation, w.Step));
        ReceiveAny(_ => Stash.Stash());
    }

    private void RefuseOrWait(long generation, long step)
    {
        if (_loadsInFlight > 0) Stash.Stash();
        else Sender.Tell(new ShardStepFailed(_id, generation, step, $"shard {_id} holds no state: it started on this node without it", -1));
    }

    private void OnLoad(LoadShard load)
    {
        if (!Current(load.Generation)) return;
        Become(Loading);
        _loadsInFlight++;
        _coordinator = Sender;
        var (replyTo, step) = (Sender, load.Checkpoint?.Step ?? 0);
        _thread.Run(Self, CancellationToken.None, _ =>
        {
            _data.Load(load.Checkpoint, load.Part);
            return new Loaded(load.Generation, step, replyTo);
        }, reason => new LoadFailed(load.Generation, step, reason, replyTo));
    }

    private void OnLoaded(Loaded loaded)
    {
        _loadsInFlight--;
        _applied = loaded.Step;
        OpenStep();
        loaded.ReplyTo.Tell(new ShardLoaded(_id, loaded.Generation, loaded.Step, _data.DataPlane));
        Become(Serving);
        Stash.UnstashAll();
    }

    /// <summary>A shard never loaded keeps waiting for a load; one that was keeps what it held.</summary>
    private void OnLoadFailed(LoadFailed failed)
    {
        _loadsInFlight--;
        failed.ReplyTo.Tell(new ShardStepFailed(_id, failed.Generation, failed.Step, failed.Reason, _applied));
        if (_applied < 0) return;
        Become(Serving);
        Stash.UnstashAll();
    }
}
