using Akka.Actor;
using ElasticTrain.Checkpointing;
using ElasticTrain.Jobs;

namespace ElasticTrain.Ranks;

// Peer copies, for pipelines without a second replica: at the steps the coordinator picks, each
// rank keeps a snapshot of its stage and sends a copy to the next stage's rank, so that a lost
// stage comes back from memory at that step (with every other stage's own snapshot) rather than
// from the last checkpoint on disk. The snapshot is taken on the compute thread (a host copy of
// the stage's parameters and optimizer state: the step's cost); packing and sending run on a pool
// thread beside the next step.
public sealed partial class Rank
{
    /// <summary>A stage's state kept in memory at a copy step: this rank's own, or its neighbour's.</summary>
    private sealed record StoredState(long Step, LayerRange Layers, IReadOnlyDictionary<string, byte[]> Sections);

    private readonly List<StoredState> _stored = [];                          // compute thread
    private readonly Dictionary<(RankId From, long Step), byte[][]> _copyChunks = []; // actor thread

    /// <summary>On the compute thread, right after applying <paramref name="step"/>: snapshot the stage and send it on.</summary>
    private void SendPeerCopy(long generation, long step, IActorRef holder, IActorRef self)
    {
        var sections = _part!.ExportState();
        _stored.Add(new StoredState(step, _part.Layers, sections));
        var layers = _part.Layers;
        // Off the compute thread: the next step need not wait for the bytes to be packed and leave.
        Task.Run(() =>
        {
            var packed = StateTransfer.Pack(sections);
            foreach (var chunk in StateTransfer.Chunks(generation, step, _setup.Id, packed))
                holder.Tell(new PeerCopyChunk(generation, step, _setup.Id, layers, chunk.Index, chunk.Count, chunk.Bytes), self);
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
    private IReadOnlyDictionary<string, byte[]> StateAt(long step, LayerRange layers)
    {
        var names = LayerNames.Of(Replica.SpecOf(_setup.Job), layers);
        if (_part is { } part && part.AppliedStep == step && part.Layers.First <= layers.First && layers.End <= part.Layers.End)
            return part.ExportState(names);
        if (_stored.FirstOrDefault(s => s.Step == step && s.Layers.First <= layers.First && layers.End <= s.Layers.End) is { } stored)
            return NamedState.Select(stored.Sections, names);
        throw new InvalidOperationException(
            $"asked for layers {layers} at step {step}; holds {(_part is null ? "no state" : $"{_part.Layers} at step {_part.AppliedStep}")}"
            + (_stored.Count > 0 ? $" and copies of {string.Join(", ", _stored.Select(s => $"{s.Layers} at step {s.Step}"))}" : ""));
    }
}
