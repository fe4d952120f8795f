using Akka.Actor;
using Akka.Cluster;

namespace ElasticTrain.Cli.Store;

/// <summary>
/// The two sides of a partition as one node's resolver sees them: its own (the members it reaches)
/// and the other (those it does not), counting only the members that take part in the decision
/// (role "node", up or leaving). Whether this side should leave the store's lease to the other is
/// decided here, from which of the other side's nodes are alive in the store (they announced
/// themselves there recently, <see cref="JobMembers"/>).
/// <para>
/// Why: with Akka's lease-majority whichever side asks first takes the lease, and the smaller side
/// only waits a fixed delay before asking. On a loaded machine the two sides notice a cut seconds
/// apart (their own heartbeats, their own 1 s resolver ticks), so a lone node could win the lease
/// from two that stay. A node that still writes to the store is alive and will ask too: the side
/// it belongs to keeps its right to win. A node that died stops writing, so the survivors of a
/// kill never wait for it.
/// </para>
/// </summary>
public sealed record PartitionSides(IReadOnlyList<Address> Mine, IReadOnlyList<Address> Other)
{
    /// <summary>The sides in <paramref name="state"/>, this node's view of the cluster.</summary>
    public static PartitionSides Of(ClusterEvent.CurrentClusterState state, string role)
    {
        var deciding = state.Members
            .Where(m => m.HasRole(role) && m.Status is MemberStatus.Up or MemberStatus.Leaving)
            .Select(m => m.Address).ToList();
        var unreachable = state.Unreachable.Select(m => m.Address).ToHashSet();
        return new PartitionSides(
            deciding.Where(a => !unreachable.Contains(a)).ToList(),
            deciding.Where(unreachable.Contains).ToList());
    }

    /// <summary>The members of the other side among <paramref name="live"/> (HOST:PORT).</summary>
    public IReadOnlyList<Address> LiveOther(IReadOnlyCollection<string> live) =>
        Other.Where(a => live.Contains(JobMembers.EntryOf(a))).ToList();

    /// <summary>
    /// True when the other side's live members outnumber this side, or equal it and include the
    /// lowest address of the two (Akka's tie-break, among the living): that side should keep the job.
    /// </summary>
    public bool DefersTo(IReadOnlyCollection<string> live)
    {
        var other = LiveOther(live);
        if (other.Count == 0 || other.Count < Mine.Count) return false;
        if (other.Count > Mine.Count) return true;
        var lowest = Mine.Concat(other).Min(Member.AddressOrdering)!;
        return other.Contains(lowest);
    }
}
