using Akka.Actor;
using ElasticTrain.Jobs;
using ElasticTrain.Ranks;

namespace ElasticTrain.Coordination;

// Peer copies, for pipelines without a second replica (MeshLayout.PeerCopyEvery): every so many
// committed steps the members snapshot their stages and each sends a copy to the next stage's
// rank. A round is complete once every copy is held; only then does the roster count the copies
// as sources, so a death mid-round falls back to the previous complete round. One round at a
// time: a round still in flight when the next is due is not doubled, the next waits.
public sealed partial class Coordinator
{
    private (long Step, HashSet<RankId> Held)? _copyRound;

    /// <summary>Whether the members copy their stages after applying <paramref name="step"/>; starts the round if so.</summary>
    private bool StartsCopyRound(long step)
    {
        if (_mesh is not { PeerCopyEvery: > 0 } mesh || step % mesh.PeerCopyEvery != 0 || _copyRound is not null) return false;
        _copyRound = (step, []);
        return true;
    }

    private void OnCopyHeld(CopyHeld held)
    {
        if (held.Generation != _state.Generation || _copyRound is not { } round || round.Step != held.Step || !_members.Contains(held.Holder)) return;
        round.Held.Add(held.Holder);
        if (round.Held.Count < _members.Length) return;
        _copyRound = null;
        foreach (var member in _members)
        {
            var owner = _members.Single(m => _mesh!.CopyHolderOf(m) == member); // whose stage this member keeps a copy of
            _roster.KeepsCopies(member, [new MeshStatePlanner.Holding(_mesh!.LayersOf(member), round.Step),
                new MeshStatePlanner.Holding(_mesh.LayersOf(owner), round.Step)]);
            _roster[member].Endpoint.Tell(new CopiesComplete(_state.Generation, round.Step));
        }
    }
}
