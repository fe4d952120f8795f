using Akka.Actor;
using Akka.Event;
using ElasticTrain.Jobs;
using ElasticTrain.Ranks.Pipeline;

namespace ElasticTrain.Ranks;

// A new generation's state: the rank first gives away what others need of the state it holds
// now, then builds its part for its new place (or keeps it, when nothing changed) from what it
// kept of its own, what peers send it by layer, the checkpoint, or the seed.
public sealed partial class Rank
{
    /// <summary>A generation waiting for peers' state: per peer, the chunks so far, or the whole once complete.</summary>
    private sealed record Incoming(PrepareRank Prepare, IActorRef Coordinator, Dictionary<RankId, byte[][]> Chunks, Dictionary<RankId, byte[]> Complete);

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
        _pending = null;
        _incoming = null;
        _copyChunks.Clear(); // a round of the old generation that never completed
        var early = _earlyChunks.Where(c => c.Generation == prepare.Generation).ToList();
        _earlyChunks.RemoveAll(c => c.Generation <= prepare.Generation);
        var coordinator = Sender;
        var targets = prepare.Sends.Select(s => (_members[s.To].Endpoint, s.Layers)).ToList();
        var kept = prepare.Sources.Where(s => s.Origin is KeepState).Select(s => s.Layers).ToList();

        // First, from the state held now (nothing has changed it yet): what others need, and what stays.
        OnCompute(prepare.Generation, 0, coordinator, () =>
        {
            _part?.DiscardPending();
            _kept = null;
            SendState(prepare.Generation, prepare.StateStep, targets);
            if (!KeepsItsPart(prepare))
                _kept = kept.Aggregate(new Dictionary<string, byte[]>(), (all, layers) => Merge(all, StateAt(prepare.StateStep, layers)));
            return null;
        });

        if (!PeersOf(prepare).Any())
        {
            Finish(prepare, coordinator, new Dictionary<RankId, byte[]>());
            return;
        }
        _incoming = new Incoming(prepare, coordinator, [], []);
        early.ForEach(OnStateChunk);
    }

    private void OnStateChunk(StateChunk chunk)
    {
        if (chunk.Generation > _generation) { _earlyChunks.Add(chunk); return; }
        if (Stale(chunk.Generation) || _incoming is not { } incoming) return;
        if (!incoming.Chunks.TryGetValue(chunk.From, out var chunks) || chunks.Length != chunk.Count)
            incoming.Chunks[chunk.From] = chunks = new byte[chunk.Count][];
        chunks[chunk.Index] = chunk.Bytes;
        if (chunks.Any(c => c is null)) return;
        incoming.Complete[chunk.From] = [.. chunks.SelectMany(c => c)];
        if (!PeersOf(incoming.Prepare).All(incoming.Complete.ContainsKey)) return;
        _incoming = null;
        Finish(incoming.Prepare, incoming.Coordinator, incoming.Complete);
    }

    /// <summary>The peers a generation's state comes from, besides the rank itself.</summary>
    private static IEnumerable<RankId> PeersOf(PrepareRank prepare) =>
        prepare.Sources.Select(s => s.Origin).OfType<CopyFromPeer>().Select(c => c.Peer).Distinct();

    /// <summary>Builds (or keeps) the part for the rank's new place from its sources, and reports it ready.</summary>
    private void Finish(PrepareRank prepare, IActorRef coordinator, IReadOnlyDictionary<RankId, byte[]> fromPeers)
    {
        OnCompute(prepare.Generation, 0, coordinator, () =>
        {
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
                                Merge(sections, StateTransfer.Unpack(fromPeers[copy.Peer]));
                                break;
                            case LoadCheckpoint load:
                                StateCheckpoint.Restore(part, _setup.Job, _setup.IdentityHash, load.Checkpoint);
                                break;
                        }
                    }
                    if (sections.Count > 0) part.ImportState(sections, prepare.StateStep);
                }
                catch
                {
                    part.Dispose();
                    throw;
                }
                _part?.Dispose();
                _part = part;
            }
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
        if (mesh.Stages == 1) return new Replica(_setup.Job, _setup.IdentityHash, device, _setup.Exchange.BucketBytes, _setup.Training);
        var (_, stage) = mesh.PositionOf(_setup.Id)!.Value;
        return new PipelineStage(_setup.Job, mesh.Partition, stage, device, _setup.Exchange.BucketBytes, _setup.Training);
    }

    private static Dictionary<string, byte[]> Merge(Dictionary<string, byte[]> into, IReadOnlyDictionary<string, byte[]> sections)
    {
        foreach (var (name, bytes) in sections) into[name] = bytes;
        return into;
    }

    /// <summary>On the compute thread: sends the state of each target's layers, packed once per distinct set of layers.</summary>
    private void SendState(long generation, long step, IReadOnlyList<(IActorRef To, LayerRange Layers)> targets)
    {
        foreach (var group in targets.GroupBy(t => t.Layers))
        {
            var packed = StateTransfer.Pack(StateAt(step, group.Key));
            foreach (var (to, _) in group)
                foreach (var chunk in StateTransfer.Chunks(generation, step, _setup.Id, packed))
                    to.Tell(chunk, ActorRefs.NoSender);
        }
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
                SendState(serve.Generation, serve.Step, targets);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                // The members' generation then fails on its own timeout; the compute thread must live on.
                _log.Warning("could not serve state of step {0}: {1}", serve.Step, e.Message);
            }
        });
    }
}
