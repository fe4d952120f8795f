using Akka.Actor;

namespace ElasticTrain.Collectives;

/// <summary>
/// Who takes part in one exchange, in ring order, and which generation and step it belongs to.
/// Every message of the exchange carries the generation and step so that a late chunk of an
/// aborted step can never be mixed into a later one.
/// </summary>
/// <param name="Position">This member's index in <paramref name="Members"/>.</param>
/// <param name="Members">The endpoint (rank actor) of every member, in ring order.</param>
public sealed record ExchangeGroup(long Generation, long Step, int Position, IReadOnlyList<IActorRef> Members)
{
    public int Size => Members.Count;

    public IActorRef Right => Members[(Position + 1) % Members.Count];
}
