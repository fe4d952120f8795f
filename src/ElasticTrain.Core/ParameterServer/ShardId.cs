using System.Globalization;

namespace ElasticTrain.ParameterServer;

/// <summary>
/// One parameter shard of a job, or its backup: its entity id in cluster sharding is
/// <c>JOB-shard-INDEX</c>, and its backup's <c>JOB-backup-INDEX</c>. A typed identity, so that the
/// index is never split out of a string again at each use; the job's name keeps two jobs on one
/// cluster from sharing an entity.
/// </summary>
/// <remarks>
/// A shard and its backup hold the same pieces and take the same steps (primary-backup): two
/// entities, placed on different nodes where there are two, so that a node's death leaves every
/// shard's state alive on another.
/// </remarks>
public sealed record ShardId : IComparable<ShardId>
{
    private const string Separator = "-shard-";
    private const string BackupSeparator = "-backup-";

    /// <param name="backup">The shard's backup rather than the shard itself.</param>
    /// <exception cref="ArgumentException">An empty job name or a negative index.</exception>
    public ShardId(string job, int index, bool backup = false)
    {
        ArgumentNullException.ThrowIfNull(job);
        if (job.Length == 0)
            throw new ArgumentException("A shard belongs to a job: the job name is empty.", nameof(job));
        if (index < 0)
            throw new ArgumentException($"Shard index {index} is negative.", nameof(index));
        Job = job;
        Index = index;
        Backup = backup;
    }

    public string Job { get; }

    public int Index { get; }

    /// <summary>Whether this is the shard's backup.</summary>
    public bool Backup { get; }

    /// <summary>The other of the pair: the backup of a shard, the shard of a backup.</summary>
    public ShardId Sibling => new(Job, Index, !Backup);

    /// <summary>The entity id: <c>JOB-shard-INDEX</c>, or <c>JOB-backup-INDEX</c>.</summary>
    public string EntityId => $"{Job}{(Backup ? BackupSeparator : Separator)}{Index.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>Reads an <see cref="EntityId"/>. A job name may itself contain "-shard-" or "-backup-": the last one separates.</summary>
    /// <exception cref="FormatException">Not <c>JOB-shard-INDEX</c> or <c>JOB-backup-INDEX</c>.</exception>
    public static ShardId Parse(string entityId)
    {
        ArgumentNullException.ThrowIfNull(entityId);
        var shard = entityId.LastIndexOf(Separator, StringComparison.Ordinal);
        var backup = entityId.LastIndexOf(BackupSeparator, StringComparison.Ordinal);
        var (at, length) = backup > shard ? (backup, BackupSeparator.Length) : (shard, Separator.Length);
        if (at <= 0 || !int.TryParse(entityId.AsSpan(at + length), NumberStyles.None, CultureInfo.InvariantCulture, out var index))
            throw new FormatException($"not JOB-shard-INDEX or JOB-backup-INDEX: '{entityId}'");
        return new ShardId(entityId[..at], index, backup > shard);
    }

    /// <summary>By job, then by index as a number (shard 10 after shard 9), the shard before its backup.</summary>
    public int CompareTo(ShardId? other) => other is null
        ? 1
        : string.CompareOrdinal(Job, other.Job) is var byJob && byJob != 0 ? byJob
        : Index.CompareTo(other.Index) is var byIndex && byIndex != 0 ? byIndex
        : Backup.CompareTo(other.Backup);

    public override string ToString() => EntityId;
}
