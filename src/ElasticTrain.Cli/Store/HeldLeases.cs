using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using Akka.Actor;

namespace ElasticTrain.Cli.Store;

/// <summary>
/// Which <see cref="StoreLease"/> currently holds each lease name in an actor system, so code that
/// writes under a lease (and must stamp its writes with the fencing token) can find the holding
/// without the lease object being passed around. Keyed weakly by the system: a terminated system
/// and its leases are collected together.
/// </summary>
internal static class HeldLeases
{
    private static readonly ConditionalWeakTable<ActorSystem, ConcurrentDictionary<string, StoreLease>> BySystem = new();

    public static void Add(ActorSystem system, StoreLease lease) =>
        BySystem.GetOrCreateValue(system)[lease.LeaseName] = lease;

    /// <summary>Removes the entry only if it is still this lease's: another owner in the same system may have taken over the name.</summary>
    public static void Remove(ActorSystem system, StoreLease lease)
    {
        if (BySystem.TryGetValue(system, out var leases))
            leases.TryRemove(new KeyValuePair<string, StoreLease>(lease.LeaseName, lease));
    }

    public static StoreLease? Find(ActorSystem system, string leaseName) =>
        BySystem.TryGetValue(system, out var leases) && leases.TryGetValue(leaseName, out var lease) ? lease : null;
}
