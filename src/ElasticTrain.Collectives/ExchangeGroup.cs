namespace ElasticTrain.Collectives;

/// <summary>A member of an exchange: its job-wide rank name and its node's data-plane address (HOST:PORT).</summary>
public sealed record ExchangeMember(string Rank, string Address);

/// <summary>
/// Who takes part in one exchange, in ring order, and which generation and step it belongs to.
/// Links are formed per generation, and every frame names its step and bucket, so bytes of an
/// aborted step can never be mixed into a later one.
/// </summary>
/// <param name="Position">This member's index in <paramref name="Members"/>.</param>
public sealed record ExchangeGroup(long Generation, long Step, int Position, IReadOnlyList<ExchangeMember> Members)
{
    public int Size => Members.Count;

    public ExchangeMember Self => Members[Position];

    public ExchangeMember Right => Members[(Position + 1) % Members.Count];

    public ExchangeMember Left => Members[(Position + Members.Count - 1) % Members.Count];
}
