using System.Globalization;

namespace ElasticTrain.ParameterServer;

/// <summary>
/// One parameter shard of a job: its entity id in cluster sharding is <c>JOB-shard-INDEX</c>. A
/// typed identity, so that the index is never split out of a string again at each use; the job's
/// name keeps two jobs on one cluster from sharing an entity.
/// </summary>
public sealed record ShardId : IComparable<ShardId>
{
    private const string Separator = "-shard-";

    /// <exception cref="ArgumentException">An empty job name or a negative index.</exception>
    public ShardId(string job, int index)
    {
        ArgumentNullException.ThrowIfNull(job);
        if (job.Length == 0)
            throw new ArgumentException("A shard belongs to a job: the job name is empty.", nameof(job));
        if (index < 0)
            throw new ArgumentException($"Shard index {index} is negative.", nameof(index));
        Job = job;
        Index = index;
    }

    public string Job { get; }

    public int Index { get; }

    /// <summary>The entity id: <c>JOB-shard-INDEX</c>.</summary>
    public string EntityId => $"{Job}{Separator}{Index.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>Reads an <see cref="EntityId"/>. A job name may itself contain "-shard-": the last one separates.</summary>
    /// <exception cref="FormatException">Not <c>JOB-shard-INDEX</c>.</exception>
    public static ShardId Parse(string entityId)
    {
        ArgumentNullException.ThrowIfNull(entityId);
        var at = entityId.LastIndexOf(Separator, StringComparison.Ordinal);
        if (at <= 0 || !int.TryParse(entityId.AsSpan(at + Separator.Length), NumberStyles.None, CultureInfo.InvariantCulture, out var index))
            throw new FormatException($"not JOB-shard-INDEX: '{entityId}'");
        return new ShardId(entityId[..at], index);
    }

    /// <summary>By job, then by index as a number (shard 10 after shard 9).</summary>
    public int CompareTo(ShardId? other) => other is null
        ? 1
        : string.CompareOrdinal(Job, other.Job) is var byJob && byJob != 0 ? byJob : Index.CompareTo(other.Index);

    public override string ToString() => EntityId;
}
