using ElasticTrain.Jobs;

namespace ElasticTrain.Coordination;

/// <summary>
/// Pure: after a step fails, which members of the generation still answer. A process that died
/// (its data-plane sockets closed at once) cannot answer; a live one answers in milliseconds,
/// since a rank's actor answers status requests while its compute thread works. The silent ones
/// are suspects: left out of the next generation without waiting for the failure detector.
/// </summary>
public sealed class LivenessCheck(long generation, IEnumerable<RankId> members, string reason)
{
    private readonly HashSet<RankId> _silent = [.. members];

    public long Generation => generation;

    /// <summary>What failed, for the log and the retry limit.</summary>
    public string Reason => reason;

    public IReadOnlyCollection<RankId> Silent => _silent;

    /// <summary>Records an answer; true once every member has answered.</summary>
    public bool Answered(RankId rank)
    {
        _silent.Remove(rank);
        return _silent.Count == 0;
    }
}
