using Akka.Actor;
using Akka.Event;
using ElasticTrain.Jobs;
using ElasticTrain.Ranks.Compression;
using ElasticTrain.Ranks.Pipeline;

namespace ElasticTrain.Ranks;

// A new generation's state: the rank first gives away what others need of the state it holds
// now, then builds its part for its new place (or keeps it, when nothing changed) from what it
// kept of its own, what peers send it by layer, the checkpoint, or the seed. Compression's
// residuals go where their layers go, and a rank leaving by plan hands its own to a member.
public sealed partial class Rank
{
    /// <summary>Who a generation waits for: a peer's state, or a leaving rank's residuals.</summary>
    private readonly record struct Source(RankId From, bool Residuals);

    /// <summary>A generation waiting for peers: per source, the chunks so far, or the whole once complete.</summary>
    private sealed record Incoming(PrepareRank Prepare, IActorRef Coordinator, Dictionary<Source, byte[][]> Chunks, Dictionary<Source, byte[]> Complete);

    private Incoming? _incoming;
    private readonly List<StateChunk> _earlyChunks = []; // a source may send before our PrepareRank arrives
    private Dictionary<string, byte[]>? _kept;          // compute thread: the layers of our own state we keep

    private void OnPrepare(PrepareRank prepare)
    {
        if (prepare.Generation <= _generation) { _droppedStale++; return; }
        // A new generation aborts whatever exchange the old one left waiting on a peer.
        _generationCancel.Cancel();
        _generationCancel = new CancellationTokenSource();
        _generation = prepare.Generation;
        _mesh = prepare.Mesh;
        _members = prepare.Members.ToDictionary(m => m.Rank);
        _setup.Port.BeginGeneration(prepare.Generation); // the old ring's links close here
        _pending.Clear();
        _incoming = null;
        _copyChunks.Clear(); // a round of the old generation that never completed
        var early = _earlyChunks.Where(c => c.Generation == prepare.Generation).ToList();
        _earlyChunks.RemoveAll(c => c.Generation <= prepare.Generation);
        var coordinator = Sender;
        var targets = prepare.Sends.Select(s => (_members[s.To].Endpoint, s.Layers)).ToList();
        var kept = prepare.Sources.Where(s => s.Origin is KeepState).Select(s => s.Layers).ToList();
        var (_, stage) = prepare.Mesh.PositionOf(_setup.Id)!.Value;
        var staying = prepare.Mesh.LayersOf(stage);

        // First, from the state held now (nothing has changed it yet): what others need, and what stays.
        OnCompute(prepare.Generation, 0, coordinator, () =>
        {
            _part?.DiscardPending();
            _kept = null;
            SendState(prepare.Generation, prepare.StateStep, targets, staying);
            if (!KeepsItsPart(prepare))
                _kept = kept.Aggregate(new Dictionary<string, byte[]>(), (all, layers) => Merge(all, StateAt(prepare.StateStep, layers, withResiduals: true)));
            return null;
        });

        if (!PeersOf(prepare).Any())
        {
            Finish(prepare, coordinator, new Dictionary<Source, byte[]>());
            return;
        }
        _incoming = new Incoming(prepare, coordinator, [], []);
        early.ForEach(OnStateChunk);
    }

    private void OnStateChunk(StateChunk chunk)
    {
        if (chunk.Generation > _generation) { _earlyChunks.Add(chunk); return; }
        if (Stale(chunk.Generation) || _incoming is not { } incoming) return;
        var source = new Source(chunk.From, chunk.Residuals);
        if (!incoming.Chunks.TryGetValue(source, out var chunks) || chunks.Length != chunk.Count)
            incoming.Chunks[source] = chunks = new byte[chunk.Count][];
        chunks[chunk.Index] = chunk.Bytes;
        if (chunks.Any(c => c is null)) return;
        incoming.Complete[source] = [.. chunks.SelectMany(c => c)];
        if (!PeersOf(incoming.Prepare).All(incoming.Complete.ContainsKey)) return;
        _incoming = null;
        Finish(incoming.Prepare, incoming.Coordinator, incoming.Complete);
    }

    /// <summary>The peers a generation's state comes from, besides the rank itself, and the leaving ranks whose residuals it takes.</summary>
    private static IEnumerable<Source> PeersOf(PrepareRank prepare) =>
        prepare.Sources.Select(s => s.Origin).OfType<CopyFromPeer>().Select(c => new Source(c.Peer, false)).Distinct()
            .Concat((prepare.ResidualsFrom ?? []).Select(r => new Source(r, true)));

    /// <summary>Builds (or keeps) the part for the rank's new place from its sources, and reports it ready.</summary>
    private void Finish(PrepareRank prepare, IActorRef coordinator, IReadOnlyDictionary<Source, byte[]> fromPeers)
    {
        if (prepare.Sources is [{ Origin: PullShards pull }])
        {
            _shardAddresses = pull.Shards;
            var cancellation = _generationCancel.Token;
            OnCompute(prepare.Generation, 0, coordinator, () => PullState(prepare, pull, cancellation));
            return;
        }
        OnCompute(prepare.Generation, 0, coordinator, () =>
        {
            var residuals = new List<Dictionary<string, float[]>>(); // what comes with layers, and from leaving ranks
            if (!KeepsItsPart(prepare))
            {
                var part = NewPart(prepare.Mesh);
                try
                {
                    var sections = new Dictionary<string, byte[]>();
                    foreach (var source in prepare.Sources)
                    {
                        switch (source.Origin)
                        {
                            case KeepState:
                                Merge(sections, _kept ?? throw new InvalidOperationException("no state kept for the layers to keep"));
                                break;
                            case CopyFromPeer copy:
                                Merge(sections, StateTransfer.Unpack(fromPeers[new Source(copy.Peer, false)]));
                                break;
                            case LoadCheckpoint load:
                                StateCheckpoint.Restore(part, _setup.Job, _setup.IdentityHash, load.Checkpoint);
                                break;
                        }
                    }
                    var (state, moved) = ResidualTransfer.Split(sections);
                    if (state.Count > 0) part.ImportState(state, prepare.StateStep);
                    residuals.Add(moved);
                }
                catch
                {
                    part.Dispose();
                    throw;
                }
                _part?.Dispose();
                _part = part;
            }
            foreach (var leaver in prepare.ResidualsFrom ?? [])
                residuals.Add(ResidualTransfer.Split(StateTransfer.Unpack(fromPeers[new Source(leaver, true)])).Residuals);
            var took = residuals.Sum(r => ResidualTransfer.Absorb(_part!, _exchange, r));
            if (took > 0) _log.Info("generation {0}: took over compression residuals of {1} parameter(s)", prepare.Generation, took);
            _kept = null;
            _stored.Clear(); // copies of the old mesh's stages; the new mesh's rounds start afresh
            _held = new Held(_part!.AppliedStep, _part.Layers);
            return new RankReady(prepare.Generation, _setup.Id, _part.AppliedStep);
        });
    }

    /// <summary>On the compute thread: whether the part held now is already the one the new place needs, at its state step.</summary>
    private bool KeepsItsPart(PrepareRank prepare)
    {
        if (_part is null || _part.AppliedStep != prepare.StateStep || prepare.Sources.Any(s => s.Origin is not KeepState)) return false;
        var (_, stage) = prepare.Mesh.PositionOf(_setup.Id)!.Value;
        return _part.Layers == prepare.Mesh.LayersOf(stage) && _part switch
        {
            Replica => prepare.Mesh.Stages == 1,
            PipelineStage held => prepare.Mesh.Stages > 1 && held.Stage == stage && held.Stages == prepare.Mesh.Stages,
            _ => false,
        };
    }

    private IModelPart NewPart(MeshLayout mesh)
    {
        var device = DeviceFor(_setup.Device, _setup.LocalIndex);
        if (mesh.Stages == 1) return new Replica(_setup.Job, _setup.IdentityHash, device, _setup.Exchange.BucketBytes, _setup.Training) { Slowdown = _setup.Slowdown };
        var (_, stage) = mesh.PositionOf(_setup.Id)!.Value;
        return new PipelineStage(_setup.Job, mesh.Partition, stage, device, _setup.Exchange.BucketBytes, _setup.Training);
    }

    private static Dictionary<string, byte[]> Merge(Dictionary<string, byte[]> into, IReadOnlyDictionary<string, byte[]> sections)
    {
        foreach (var (name, bytes) in sections) into[name] = bytes;
        return into;
    }

    /// <summary>
    /// On the compute thread: sends the state of each target's layers. Compression's residuals of a
    /// layer the rank will not hold (<paramref name="staying"/>: its new layers, null for none) go
    /// with it, to one target only, so that none is counted twice.
    /// </summary>
    private void SendState(long generation, long step, IReadOnlyList<(IActorRef To, LayerRange Layers)> targets, LayerRange? staying)
    {
        if (targets.Count == 0) return; // most ranks of most generations: nothing to export either
        var spec = Replica.SpecOf(_setup.Job);
        var residuals = CommittedResiduals(step);
        if (staying is { } own) foreach (var name in LayerNames.Of(spec, own)) residuals.Remove(name);
        foreach (var group in targets.GroupBy(t => t.Layers))
        {
            var state = StateAt(step, group.Key);
            var packed = StateTransfer.Pack(state);
            var names = LayerNames.Of(spec, group.Key);
            foreach (var (to, _) in group)
            {
                var moving = names.Where(residuals.ContainsKey).ToDictionary(name => name, name => residuals[name]);
                foreach (var name in moving.Keys) residuals.Remove(name);
                var bytes = moving.Count == 0 ? packed : StateTransfer.Pack(Merge(new(state), ResidualTransfer.ToSections(moving)));
                foreach (var chunk in StateTransfer.Chunks(generation, step, _setup.Id, bytes))
                    to.Tell(chunk, ActorRefs.NoSender);
            }
        }
    }

    /// <summary>On the compute thread: the part's compression residuals by name, when the part is at <paramref name="step"/>; else none.</summary>
    private Dictionary<string, float[]> CommittedResiduals(long step) =>
        _part is { } part && part.AppliedStep == step ? ResidualTransfer.Export(part, _exchange) : [];

    /// <summary>Leaving the mesh by plan: hand compression's residuals to a member, forget them, then take what comes next.</summary>
    private void OnHandOffResiduals(HandOffResiduals handOff)
    {
        if (handOff.Generation <= _generation) { _droppedStale++; return; }
        var self = Self;
        _compute.Post(() =>
        {
            try
            {
                var residuals = CommittedResiduals(handOff.Step);
                var packed = StateTransfer.Pack(ResidualTransfer.ToSections(residuals));
                foreach (var chunk in StateTransfer.Chunks(handOff.Generation, handOff.Step, _setup.Id, packed, residuals: true))
                    handOff.To.Endpoint.Tell(chunk, ActorRefs.NoSender);
                _exchange.ClearResiduals();
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                // The member's generation then fails on its own timeout; the compute thread must live on.
                _log.Warning("could not hand off residuals of step {0}: {1}", handOff.Step, e.Message);
            }
            if (handOff.Then is { } then) self.Tell(then, ActorRefs.NoSender);
        });
    }

    /// <summary>Outside the new generation, but holding state it needs: pass it on (a drained node's last act).</summary>
    private void OnServeState(ServeState serve)
    {
        if (serve.Generation <= _generation) { _droppedStale++; return; }
        var targets = serve.Targets.Select(t => (t.To.Endpoint, t.Layers)).ToList();
        _compute.Post(() =>
        {
            try
            {
                SendState(serve.Generation, serve.Step, targets, staying: null);
                _exchange.ClearResiduals(); // what was not sent goes nowhere: this rank holds no place now
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                // The members' generation then fails on its own timeout; the compute thread must live on.
                _log.Warning("could not serve state of step {0}: {1}", serve.Step, e.Message);
            }
        });
    }
}
