using Akka.Actor;
using Akka.Event;
using ElasticTrain.Jobs;
using ElasticTrain.Ranks;
using ElasticTrain.Ranks.Pipeline;

namespace ElasticTrain.Coordination;

// Generations: ranks register; at a step boundary (or at the start, once enough ranks are here)
// the coordinator plans the mesh of the ranks it may use, journals the generation, and tells each
// member its place and where the state of its layers comes from.
public sealed partial class Coordinator
{
    private void OnRegister(RegisterRank register)
    {
        switch (_roster.Register(register.Rank, register.Endpoint, register.DataPlane, register.StateStep, register.Held, register.Memory, DateTime.UtcNow))
        {
            case Roster.Registration.Known:
                return;
            case Roster.Registration.Drained:
                register.Endpoint.Tell(new JobOver(Job.Id, _state.Generation, true, "drained"));
                return;
        }
        Context.Watch(register.Endpoint);
        _log.Info("rank {0} registered ({1} known)", register.Rank, _roster.Count);
        // Before the first generation it counts toward the start; later it joins at the next step boundary.
        TryStartGeneration();
    }

    /// <summary>The mesh of the ranks the job may use now; null, with the reason logged, when they can form none.</summary>
    private Mesh? PlanMesh(IReadOnlyCollection<RankId> usable)
    {
        if (usable.Count == 0) return null;
        if (MeshPlanner.TryPlan(usable, _roster.Memory, _costs.Profile, Job.GlobalBatch, _setup.Mesh, out var mesh, out var refusal, _mesh?.Members))
            return mesh;
        if (refusal != _lastRefusal) Publish(new JobWaiting(Job.Id, refusal));
        _lastRefusal = refusal;
        return null;
    }

    private string? _lastRefusal;

    /// <summary>Steps measured on a mesh before its costs may re-plan it, and the gain a re-plan must promise.</summary>
    private const int RebalanceAfter = 10;
    private const double RebalanceGain = 0.10;

    /// <summary>
    /// Whether the ranks the job may use now would form another mesh than this generation's. With
    /// the same ranks, only measured costs can make it differ: then only when the new mesh's
    /// estimated step is shorter by <see cref="RebalanceGain"/> after <see cref="RebalanceAfter"/>
    /// measured steps, so that noise in the timings does not move layers back and forth.
    /// </summary>
    private bool MeshWouldChange(IReadOnlyCollection<RankId> usable)
    {
        if (PlanMesh(usable) is not { } mesh) return !_members.All(usable.Contains);
        var current = _mesh!;
        if (Same(mesh.Layout, current)) return false;
        if (!mesh.Layout.Members.Order().SequenceEqual(_members)) return true;
        if (_costs.Measured < RebalanceAfter) return false;
        var now = MeshPlanner.StepEstimate(current.Partition, current.Replicas, current.MicroBatches, _costs.Profile, Job.GlobalBatch);
        if (mesh.StepEstimate >= (1 - RebalanceGain) * now) return false;
        _log.Info("re-planning for measured costs: {0} (estimated step {1:0.#}) instead of {2} {3} ({4:0.#})",
            mesh, mesh.StepEstimate, current, current.Partition, now);
        return true;
    }

    /// <summary>Each stage's busy time per sample in the step, averaged over its replicas, into the layer costs.</summary>
    private void MeasureCosts(StepTally tally)
    {
        var mesh = _mesh!;
        var busy = new double[mesh.Stages];
        foreach (var slice in tally.Plan.Slices)
        {
            var report = tally.Reports.First(r => r.Rank == slice.Rank);
            var ms = report.SpanMs > 0 ? report.SpanMs - report.WaitMs : report.ComputeMs;
            busy[slice.Stage] += ms / slice.Count / mesh.Replicas;
        }
        _costs.Measure(mesh.Partition, busy);
    }

    private static bool Same(MeshLayout a, MeshLayout b) =>
        a.Layers == b.Layers && a.StageStarts.SequenceEqual(b.StageStarts) && a.MicroBatches == b.MicroBatches && a.Schedule == b.Schedule
        && a.Grid.Length == b.Grid.Length && a.Grid.Zip(b.Grid).All(rows => rows.First.SequenceEqual(rows.Second));

    private void TryStartGeneration()
    {
        if (!_began || !_awaitingGeneration || _check is not null || _state.Config is null || _roster.Count < _required) return;
        if (PlanMesh(_roster.Desired()) is not { } mesh) return;
        // Without a second replica, a stage's only live holder is its rank: keep copies in memory.
        var layout = mesh.Layout with { PeerCopyEvery = mesh.Replicas == 1 && mesh.Stages > 1 ? _setup.Mesh.PeerCopyEvery : 0 };
        var members = layout.Members.Order().ToArray();
        _awaitingGeneration = false;
        Write(new GenerationStarted(_state.Generation + 1, members.Select(m => m.ToString()).ToArray()), e =>
        {
            var before = _mesh;
            _state = _state.Updated(e);
            _members = members;
            _mesh = layout;
            _copyRound = null;
            _costs.Restart();
            _ready.Clear();
            _step = null;
            // Preparing the state has the step's patience: a source that never sends must not hang the job.
            Timers.StartSingleTimer("step-timeout", new StepTimedOut(_state.Generation, 0), _setup.StepTimeout);
            if (ParameterServerMode)
            {
                _statePlan = null;
                PrepareShards();
                return;
            }
            var needs = members.ToDictionary(m => m, layout.LayersOf);
            var plan = MeshStatePlanner.Decide(needs, _roster.Holdings, _state.CommittedStep, _state.LastCheckpoint);
            _statePlan = plan;
            _handOffs = ResidualHandOffs.Decide(before, layout, _roster.Holdings, plan.StateStep, _setup.Training.Exchange.KeepsResiduals);
            _roster.ForgetCopies(); // the plan has used them; the new mesh's rounds start afresh
            foreach (var (to, order) in GenerationOrders.For(Job.Id, _state.Generation, layout, plan, _roster, _handOffs)) to.Tell(order);
            _log.Info("generation {0}: {1} ranks as {2}, resuming at step {3}", _state.Generation, members.Length, mesh, plan.ResumeStep);
        });
    }

    /// <summary>Ranks leaving by plan that hand their compression residuals to a member of this generation.</summary>
    private IReadOnlyDictionary<RankId, RankId> _handOffs = new Dictionary<RankId, RankId>();

    /// <summary>
    /// Whether the generation needs <paramref name="rank"/>: a member, or, while it prepares, a source
    /// of a member's state or residuals.
    /// </summary>
    private bool Needs(RankId rank) =>
        _members.Contains(rank) || (_step is null && _statePlan is not null && (_statePlan.Sends.ContainsKey(rank) || _handOffs.ContainsKey(rank)));

    private void OnRankReady(RankReady ready)
    {
        if (ready.Generation != _state.Generation || _step is not null || _statePlan is null || !_members.Contains(ready.Rank)) return;
        _roster.HoldsState(ready.Rank, ready.StateStep, _mesh!.LayersOf(ready.Rank));
        if (ready.StateStep != _statePlan.StateStep)
        {
            Abort($"rank {ready.Rank} prepared state at step {ready.StateStep}, not {_statePlan.StateStep}", verify: false);
            return;
        }
        _ready.Add(ready.Rank);
        if (_ready.Count < _members.Length) return;
        var resumedFrom = _statePlan.Sources.Values.SelectMany(s => s).Select(s => s.Origin).OfType<LoadCheckpoint>().FirstOrDefault()?.Checkpoint
            ?? _shardsLoaded;
        Publish(new JobRunning(Job.Id, _statePlan.ResumeStep, Job.Steps, _state.Generation, _members.Length, resumedFrom,
            _samples.Since(_state), _mesh.ToString(), _mesh.Partition.ToString(), _setup.Training.Describe(), _members, _roster.Idle(_members), _roster.Drained));
        var resume = _statePlan.ResumeStep;
        // Every step committed: a failure cut the last step's evaluation or checkpoint short (a parameter
        // shard moved, a writer died). There is no step to run, only those to finish.
        Action go = resume > Job.Steps ? FinishLastStep : () => Dispatch(resume);
        if (EvaluationCutShort(resume - 1)) Evaluate(resume - 1, go);
        else go();
    }
}
