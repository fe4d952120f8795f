using Akka.Actor;
using ElasticTrain.Checkpointing;
using ElasticTrain.Jobs;

namespace ElasticTrain.Ranks;

// Peer copies, for pipelines without a second replica: at the steps the coordinator picks, each
// rank keeps a snapshot of its stage and sends a copy to the next stage's rank, so that a lost
// stage comes back from memory at that step (with every other stage's own snapshot) rather than
// from the last checkpoint on disk. The compute thread only copies the stage's tensors (the step's
// cost); encoding, packing and sending run on a pool thread beside the next step.
public sealed partial class Rank
{
    /// <summary>A stage's state kept in memory at a copy step: this rank's own, or its neighbour's.</summary>
    private sealed record StoredState(long Step, LayerRange Layers, IReadOnlyDictionary<string, byte[]> Sections);

    private readonly List<StoredState> _stored = [];                          // compute thread
    private readonly Dictionary<(RankId From, long Step), byte[][]> _copyChunks = []; // actor thread

    /// <summary>
    /// On the compute thread, right after applying <paramref name="step"/>: snapshot the stage, then,
    /// off the compute thread, encode it, keep it, and send it on. The snapshot is kept (on the
    /// compute thread, queued) before the copy leaves, so it is there before the round can count.
    /// </summary>
    private void SendPeerCopy(long generation, long step, IActorRef holder, IActorRef self)
    {
        var snapshot = _part!.Snapshot();
        var layers = _part.Layers;
        Task.Run(() =>
        {
            try
            {
                IReadOnlyDictionary<string, byte[]> sections;
                using (snapshot) sections = snapshot.ToNamedState().ToSections();
                _compute.Post(() => _stored.Add(new StoredState(step, layers, sections)));
                var packed = StateTransfer.Pack(sections);
                foreach (var chunk in StateTransfer.Chunks(generation, step, _setup.Id, packed))
                    holder.Tell(new PeerCopyChunk(generation, step, _setup.Id, layers, chunk.Index, chunk.Count, chunk.Bytes), self);
            }
            catch (Exception e) when (e is ObjectDisposedException or InvalidOperationException)
            {
                // The rank stopped meanwhile; the round never completes and the one before stands.
            }
        });
    }

    private void OnPeerCopyChunk(PeerCopyChunk chunk)
    {
        if (Stale(chunk.Generation)) return;
        var key = (chunk.From, chunk.Step);
        if (!_copyChunks.TryGetValue(key, out var chunks) || chunks.Length != chunk.Count)
            _copyChunks[key] = chunks = new byte[chunk.Count][];
        chunks[chunk.Index] = chunk.Bytes;
        if (chunks.Any(c => c is null)) return;
        _copyChunks.Remove(key);
        byte[] packed = [.. chunks.SelectMany(c => c)];
        var coordinator = _setup.Coordinator;
        var self = Self;
        _compute.Post(() =>
        {
            _stored.Add(new StoredState(chunk.Step, chunk.Layers, StateTransfer.Unpack(packed)));
            coordinator.Tell(new CopyHeld(chunk.Generation, chunk.Step, _setup.Id, chunk.Layers), self);
        });
    }

    private void OnCopiesComplete(CopiesComplete complete)
    {
        if (Stale(complete.Generation)) return;
        foreach (var stale in _copyChunks.Keys.Where(k => k.Step < complete.Step).ToList()) _copyChunks.Remove(stale);
        _compute.Post(() => _stored.RemoveAll(s => s.Step < complete.Step));
    }

    /// <summary>
    /// On the compute thread: the state of <paramref name="layers"/> at <paramref name="step"/>, from
    /// the model part when it is at that step, else from a snapshot or a neighbour's copy.
    /// </summary>
    /// <exception cref="InvalidOperationException">The rank holds those layers at no such step.</exception>
    /// <param name="withResiduals">Add the part's compression residuals of those layers (where the part itself is the source).</param>
    private IReadOnlyDictionary<string, byte[]> StateAt(long step, LayerRange layers, bool withResiduals = false)
    {
        var names = LayerNames.Of(Replica.SpecOf(_setup.Job), layers);
        if (_part is { } part && part.AppliedStep == step && part.Layers.First <= layers.First && layers.End <= part.Layers.End)
            return withResiduals
                ? Merge(new(part.ExportState(names)), Compression.ResidualTransfer.ToSections(Compression.ResidualTransfer.Export(part, _exchange, names.ToHashSet())))
                : part.ExportState(names);
        if (_stored.FirstOrDefault(s => s.Step == step && s.Layers.First <= layers.First && layers.End <= s.Layers.End) is { } stored)
            return NamedState.Select(stored.Sections, names);
        throw new InvalidOperationException(
            $"asked for layers {layers} at step {step}; holds {(_part is null ? "no state" : $"{_part.Layers} at step {_part.AppliedStep}")}"
            + (_stored.Count > 0 ? $" and copies of {string.Join(", ", _stored.Select(s => $"{s.Layers} at step {s.Step}"))}" : ""));
    }
}
