using Akka.Actor;
using Akka.Event;
using ElasticTrain.ParameterServer;

namespace ElasticTrain.Ranks.ParameterServer;

/// <summary>
/// One parameter shard of a job, as a cluster-sharding entity: it holds its pieces' values and
/// optimizer state and applies each bsp step once every slice of it has arrived (see
/// <c>ShardProtocol.cs</c>). A thin actor: the rules of a step live in <see cref="ShardStepTally"/>,
/// the tensors in <see cref="ShardData"/> on the shard's own thread, since receives block on the
/// workers and updates take time that Akka's dispatcher must not lose. Work reports back by message.
/// </summary>
/// <remarks>
/// Sharding places the entity and stops it for a hand-off; it moves no state. A shard that starts
/// somewhere new holds nothing until told where to read its state (<see cref="LoadShard"/>) or
/// given its sibling's (<see cref="ReceiveShardState"/>), and keeps the commands that come before
/// that for after it.
/// A step that fails (a slice does not arrive, the slices do not fit the plan) closes the shard's
/// links of the generation, so the workers' exchanges fail too and the planner forms a new generation,
/// as after any failed exchange; the shard keeps its last applied step.
/// </remarks>
public sealed partial class ShardEntity : ReceiveActor, IWithUnboundedStash
{
    public static Props Props(ShardSetup setup, ShardId id) => Akka.Actor.Props.Create(() => new ShardEntity(setup, id));

    // What the shard's thread reports.
    private sealed record Loaded(long Generation, long Step, IActorRef ReplyTo);
    private sealed record Summed(long Generation, long Step, double Squares);
    private sealed record Applied(long Generation, long Step, IActorRef ReplyTo);
    private sealed record LoadFailed(long Generation, long Step, string Reason, IActorRef ReplyTo);
    /// <summary>Work of step <paramref name="Step"/> failed; <paramref name="ReplyTo"/> is who to tell, null for the step's planner.</summary>
    private sealed record Failed(long Generation, long Step, string Reason, IActorRef? ReplyTo);

    private readonly ShardId _id;
    private readonly ShardData _data;
    private readonly ComputeThread _thread;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly List<(PullShard Pull, IActorRef ReplyTo)> _pulls = []; // pulls of the step in progress
    private long _generation;
    private long _applied = -1;
    private ShardStepTally _tally = ShardStepTally.Open(0);
    private IActorRef? _planner;  // who sent the step in progress's ExpectStep
    private bool _summing;        // the step's mean is being made, or is made
    private double? _squares;     // made, and not yet applied
    private double _lossScale = 1; // the step in progress's (fp16), divided out of its mean
    private bool _applying;       // a committed step is being applied: the next step's commands wait
    private IActorRef? _coordinator; // who last planned a step or a load here: told when the entity stops
    private readonly string _node;   // this node's cluster address, HOST:PORT, for status
    private CancellationTokenSource _generationCancel = new();
    private CancellationTokenSource _stepCancel = new();
    private long _droppedStale;
    private long _repeated;

    public IStash Stash { get; set; } = null!;

    /// <exception cref="ArgumentException">A shard of another job, or beyond the plan.</exception>
    public ShardEntity(ShardSetup setup, ShardId id)
    {
        if (id.Job != setup.Job || id.Index >= setup.Plan.Shards)
            throw new ArgumentException($"Shard {id} is not one of job '{setup.Job}''s {setup.Plan.Shards} parameter shards.", nameof(id));
        _id = id;
        _data = new ShardData(setup, id);
        _thread = new ComputeThread($"shard-{id.Index}", setup.TorchThreads);
        var node = Akka.Cluster.Cluster.Get(Context.System).SelfAddress;
        _node = $"{node.Host}:{node.Port}";
        Loading();
    }

    private void Serving()
    {
        Receive<GetShardStatus>(OnStatus);
        Receive<LoadShard>(OnLoad);
        Receive<ReceiveShardState>(OnReceiveState);
        Receive<CopyShardState>(OnCopy);
        Receive<ExpectStep>(OnExpect);
        Receive<PushGradients>(OnPush);
        Receive<MeasureShardUpdate>(OnMeasure);
        Receive<ApplyShardStep>(OnApply);
        Receive<PullShard>(OnPull);
        Receive<WriteShardCheckpoint>(OnWriteCheckpoint);
        Receive<Summed>(OnSummed);
        Receive<Measured>(OnMeasured);
        Receive<Applied>(OnApplied);
        Receive<Failed>(OnFailed);
    }

    /// <summary>
    /// An apply under way is of a committed step and finishes whatever comes next: the status waits
    /// for it, so that a replica a moment slower than its sibling is not taken for one a step behind
    /// (the generation would then start a step earlier and run that step again).
    /// </summary>
    private void OnStatus(GetShardStatus _)
    {
        if (_applying) Stash.Stash();
        else Sender.Tell(Status());
    }

    private ShardStatus Status() => new(_id, _generation, _applied, _data.DataPlane, _droppedStale, _repeated, _node);

    private void OnExpect(ExpectStep expect)
    {
        if (_applying)
        {
            Stash.Stash(); // the next step's plan comes right behind the apply: it waits for it
            return;
        }
        if (!Current(expect.Generation)) return;
        if (expect.Step != _tally.Step)
        {
            Sender.Tell(new ShardStepFailed(_id, expect.Generation, expect.Step, $"shard {_id} holds step {_applied}: its next step is {_tally.Step}", _applied));
            return;
        }
        try { _tally = _tally.Expect(expect.Workers, expect.GlobalBatch); }
        catch (ArgumentException e)
        {
            Sender.Tell(new ShardStepFailed(_id, expect.Generation, expect.Step, e.Message, _applied));
            return;
        }
        _planner = Sender;
        _coordinator = Sender;
        _lossScale = expect.LossScale;
        Sum();
    }

    private void OnPush(PushGradients push)
    {
        if (!Current(push.Generation)) return;
        if (push.Step > _tally.Step)
        {
            // A worker that pulled the step in progress from the other replica pushes the next one
            // while this one still applies it: the push waits for the apply (its frames wait on the link).
            Stash.Stash();
            return;
        }
        (_tally, var verdict) = _tally.Push(push.Step, push.Worker, push.Samples);
        if (verdict != PushVerdict.Counted)
        {
            _repeated++;
            _log.Debug("shard {0}: push of step {1} by {2} is {3}; its frames are read and dropped", _id, push.Step, push.Worker, verdict);
        }
        // Read even when dropped: the frames are on the worker's link, ahead of its next push's.
        var counted = verdict == PushVerdict.Counted;
        _thread.Run(Self, _stepCancel.Token, token =>
        {
            _data.Receive(push.Generation, push.Step, push.Worker, counted, token);
            return null;
        }, reason => new Failed(push.Generation, push.Step, reason, null));
        Sum();
    }

    /// <summary>Once every slice is in, the mean and its squares, on the shard's thread; a step that cannot be, fails.</summary>
    private void Sum()
    {
        if (_summing) return;
        if (_tally.Problem is { } problem)
        {
            FailStep(_tally.Step, problem, _planner);
            return;
        }
        if (!_tally.Complete) return;
        _summing = true;
        var (generation, step, batch, lossScale) = (_generation, _tally.Step, _tally.GlobalBatch, _lossScale);
        _thread.Run(Self, _stepCancel.Token, _ => new Summed(generation, step, _data.Mean(batch, lossScale)), reason => new Failed(generation, step, reason, null));
    }

    private void OnSummed(Summed summed)
    {
        if (summed.Generation != _generation || summed.Step != _tally.Step || !_summing) return;
        _squares = summed.Squares;
        _planner?.Tell(new ShardSquares(_id, summed.Generation, summed.Step, summed.Squares));
    }

    private void OnApply(ApplyShardStep apply)
    {
        if (!Current(apply.Generation)) return;
        if (apply.Step == _applied)
        {
            Sender.Tell(new ShardApplied(_id, apply.Generation, apply.Step)); // a repeated apply: done already
            return;
        }
        if (apply.Step != _tally.Step || _squares is null)
        {
            Sender.Tell(new ShardStepFailed(_id, apply.Generation, apply.Step, $"shard {_id} has not every slice of step {apply.Step} (it holds step {_applied})", _applied));
            return;
        }
        _squares = null;
        _applying = true;
        var replyTo = Sender;
        // Not cancelled by a newer generation: a step the planner has committed is applied.
        _thread.Run(Self, CancellationToken.None, _ =>
        {
            _data.Apply(apply.Step, apply.ClipCoefficient, apply.LearningRate, apply.Trust, apply.Overflowed);
            return new Applied(apply.Generation, apply.Step, replyTo);
        }, reason => new Failed(apply.Generation, apply.Step, reason, replyTo));
    }

    private void OnApplied(Applied applied)
    {
        _applying = false;
        Stash.UnstashAll();
        if (applied.Step != _applied + 1) return;
        _applied = applied.Step;
        var pulls = _pulls.ToList();
        OpenStep();
        applied.ReplyTo.Tell(new ShardApplied(_id, applied.Generation, applied.Step));
        foreach (var (pull, replyTo) in pulls.Where(p => p.Pull.Generation == _generation)) Send(pull, replyTo);
    }

    private void OnPull(PullShard pull)
    {
        if (!Current(pull.Generation)) return;
        if (pull.Step == _applied) Send(pull, Sender);
        else if (pull.Step == _applied + 1) _pulls.Add((pull, Sender));
        else Sender.Tell(new ShardStepFailed(_id, pull.Generation, pull.Step, $"shard {_id} holds step {_applied}, not the values of step {pull.Step}", _applied));
    }

    private void Send(PullShard pull, IActorRef replyTo) =>
        _thread.Run(Self, _generationCancel.Token, token =>
        {
            _data.Send(pull.Generation, pull.Step, pull.Worker, pull.DataPlane, token);
            return null;
        }, reason => new Failed(pull.Generation, pull.Step, reason, replyTo));

    /// <summary>A failed pull is its worker's business; a failure of the step in progress fails the step.</summary>
    private void OnFailed(Failed failed)
    {
        if (_applying && failed.Step == _tally.Step)
        {
            _applying = false; // the apply failed: what waited for it fails or runs now
            Stash.UnstashAll();
        }
        if (failed.Generation != _generation) return;
        if (failed.Step == _tally.Step) FailStep(failed.Step, failed.Reason, failed.ReplyTo ?? _planner);
        else failed.ReplyTo?.Tell(new ShardStepFailed(_id, failed.Generation, failed.Step, failed.Reason, _applied));
    }

    private void FailStep(long step, string reason, IActorRef? tell)
    {
        _log.Warning("shard {0}: step {1} of generation {2} failed: {3}", _id, step, _generation, reason);
        tell?.Tell(new ShardStepFailed(_id, _generation, step, reason, _applied));
        OpenStep();
        _thread.Post(() =>
        {
            _data.Abort();
            _data.Reset();
        });
    }

    /// <summary>Fencing: false (dropped, counted) for an older generation; a newer one starts here, the step in progress with it.</summary>
    private bool Current(long generation)
    {
        if (generation < _generation)
        {
            _droppedStale++;
            return false;
        }
        if (generation > _generation)
        {
            _generation = generation;
            _generationCancel.Cancel();
            _generationCancel = new CancellationTokenSource();
            OpenStep();
            // Now, not on the shard's thread: its work in hand may wait on a link of the old
            // generation (values pulled by a worker of this process that left it unread), and the
            // workers join the new one only once its shards are ready.
            _data.LeaveEarlierGenerations(generation);
            _thread.Post(_data.Reset); // the partial sum of a step the old links fed
        }
        return true;
    }

    /// <summary>Starts the step after the applied one afresh: work still queued for the one before is skipped.</summary>
    private void OpenStep()
    {
        _stepCancel.Cancel();
        _stepCancel = CancellationTokenSource.CreateLinkedTokenSource(_generationCancel.Token);
        _tally = ShardStepTally.Open(_applied + 1);
        _planner = null;
        _summing = false;
        _squares = null;
        _lossScale = 1;
        _pulls.Clear();
    }

    /// <summary>
    /// Stopped with its node, or for a move to another: whoever drives the job hears of it at once,
    /// since the state goes with the entity, and re-plans instead of waiting out the step.
    /// </summary>
    protected override void PostStop()
    {
        _coordinator?.Tell(new ShardStepFailed(_id, _generation, _tally.Step, $"shard {_id} stopped on its node (moved, or the node is leaving)", _applied));
        _generationCancel.Cancel();
        _data.ClosePort(); // a send waiting on a worker fails now, so the thread ends at once
        _thread.Post(_data.Dispose);
        _thread.Dispose();
    }
}
