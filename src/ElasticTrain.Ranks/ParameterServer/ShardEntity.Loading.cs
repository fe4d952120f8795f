using Akka.Actor;

namespace ElasticTrain.Ranks.ParameterServer;

// A shard's state arrives by a load: from a checkpoint, from the seed, or from its sibling over the
// data plane (the sibling's side of that copy is here too). Sharding starts an entity wherever it
// places it, holding nothing; only a load gives it its pieces.
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
        Receive<ReceiveShardState>(OnReceiveState);
        Receive<Loaded>(OnLoaded);
        Receive<LoadFailed>(OnLoadFailed);
        Receive<ExpectStep>(e => RefuseOrWait(e.Generation, e.Step));
        Receive<ApplyShardStep>(a => RefuseOrWait(a.Generation, a.Step));
        Receive<WriteShardCheckpoint>(w => RefuseOrWait(w.Generation, w.Step));
        Receive<CopyShardState>(c => RefuseOrWait(c.Generation, c.Step));
        Receive<MeasureShardUpdate>(m => RefuseOrWait(m.Generation, m.Step));
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
        StartLoad(load.Generation, load.Checkpoint?.Step ?? 0, _ => _data.Load(load.Checkpoint));
    }

    /// <summary>
    /// The sibling sends its state: read on the shard's thread, cut short by a newer generation (the
    /// sibling's sending fails, or it died, and the receive ends at the exchange timeout). Refused
    /// when it is sent elsewhere: to the node this shard was on before Sharding moved it.
    /// </summary>
    private void OnReceiveState(ReceiveShardState receive)
    {
        if (!Current(receive.Generation)) return;
        if (receive.Source != _id.Sibling)
        {
            Sender.Tell(new ShardStepFailed(_id, receive.Generation, receive.Step, $"shard {_id} takes a copy from its sibling {_id.Sibling} only, not from {receive.Source}", _applied));
            return;
        }
        if (receive.SentTo != _data.DataPlane)
        {
            Sender.Tell(new ShardStepFailed(_id, receive.Generation, receive.Step,
                $"shard {_id} is on the data plane {_data.DataPlane}, not on {receive.SentTo} where its sibling sends its state: it moved after it answered", _applied));
            return;
        }
        var cancel = _generationCancel.Token;
        StartLoad(receive.Generation, receive.Step, _ => _data.ReceiveState(receive.Generation, receive.Step, receive.Source, receive.Layout, cancel));
    }

    /// <summary>Loads on the shard's thread, keeping the other commands until it is done; always answered, so never cancelled.</summary>
    private void StartLoad(long generation, long step, Action<CancellationToken> load)
    {
        Become(Loading);
        _loadsInFlight++;
        _coordinator = Sender;
        var replyTo = Sender;
        _thread.Run(Self, CancellationToken.None, token =>
        {
            load(token);
            return new Loaded(generation, step, replyTo);
        }, reason => new LoadFailed(generation, step, reason, replyTo));
    }

    /// <summary>
    /// The sibling lost its state: this shard sends it what it holds, on its thread. The layout goes
    /// to whoever asked as soon as it is known, for the sibling's <see cref="ReceiveShardState"/>.
    /// </summary>
    private void OnCopy(CopyShardState copy)
    {
        if (_applying)
        {
            Stash.Stash(); // the step to copy comes right behind its apply: it waits for it
            return;
        }
        if (!Current(copy.Generation)) return;
        if (copy.Step != _applied || copy.Target != _id.Sibling)
        {
            var why = copy.Step != _applied ? $"shard {_id} holds step {_applied}, not step {copy.Step} to copy" : $"shard {_id} copies its state to its sibling only, not to {copy.Target}";
            Sender.Tell(new ShardStepFailed(_id, copy.Generation, copy.Step, why, _applied));
            return;
        }
        var replyTo = Sender;
        _thread.Run(Self, _generationCancel.Token, token =>
        {
            _data.SendState(copy.Generation, copy.Target, copy.TargetDataPlane,
                layout => replyTo.Tell(new ShardStateOffered(_id, copy.Generation, copy.Step, copy.Target, layout)), token);
            return null;
        }, reason => new Failed(copy.Generation, copy.Step, $"sending its state to {copy.Target} failed: {reason}", replyTo));
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
