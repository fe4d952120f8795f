using System.Security.Cryptography;
using ElasticTrain.Cli.Hosting;
using ElasticTrain.Configuration;

namespace ElasticTrain.Cli.Store;

/// <summary>
/// The job's data-plane secret, kept in the job's store: 32 random bytes per job id, created by
/// whichever node asks first. Every node of a job already shares the store (journal and leases), so
/// they agree on the secret without an operator handing one out, and someone who can merely reach
/// a data port cannot guess it. One conditional statement decides, so two nodes starting at once
/// still get the same secret: the insert of the second does nothing and returns the first's.
/// </summary>
public static class JobSecret
{
    private const string Table = "elastictrain_secrets";
    public const int Bytes = 32;

    // Hex text, not BLOB/BYTEA: the same type and the same statement on both stores.
    private const string CreateSql = $"CREATE TABLE IF NOT EXISTS {Table} (job TEXT PRIMARY KEY, secret TEXT NOT NULL)";

    // The no-op update makes the conflicting row come back through RETURNING (DO NOTHING returns no row).
    private const string GetOrCreateSql = $"""
        INSERT INTO {Table} (job, secret) VALUES (@job, @secret)
        ON CONFLICT (job) DO UPDATE SET secret = {Table}.secret
        RETURNING secret
        """;

    /// <summary>
    /// A node's data-plane secret: the operator's (<c>elastictrain.data-plane-secret</c>) when
    /// given, else the job's from the store.
    /// </summary>
    public static async Task<byte[]> ForNodeAsync(HostSettings settings, JournalStore store, string jobId, CancellationToken cancellation) =>
        settings.DataPlaneSecret.Length > 0
            ? System.Text.Encoding.UTF8.GetBytes(settings.DataPlaneSecret)
            : await GetOrCreateAsync(store, jobId, TimeSpan.FromSeconds(30), cancellation);

    /// <summary>
    /// A tag that two nodes compare to learn whether they hold the same secret without showing it:
    /// HMAC-SHA256 keyed by the secret over the job's id, its first 16 bytes in hex.
    /// </summary>
    public static string Check(byte[] secret, string jobId) =>
        Convert.ToHexString(HMACSHA256.HashData(secret, System.Text.Encoding.UTF8.GetBytes("elastictrain data-plane secret check " + jobId)).AsSpan(0, 16));

    /// <summary>The secret of <paramref name="jobId"/>, created now if the store has none; <see cref="SettingsException"/> if the store cannot say.</summary>
    public static Task<byte[]> GetOrCreateAsync(JournalStore store, string jobId, TimeSpan timeout, CancellationToken cancellation = default) =>
        StoreTable.RunAsync(store, CreateSql, "the data-plane secret", timeout, async (connection, token) =>
        {
            await using var command = StoreTable.Command(connection, timeout, GetOrCreateSql,
                ("job", jobId), ("secret", Convert.ToHexString(RandomNumberGenerator.GetBytes(Bytes))));
            var secret = await command.ExecuteScalarAsync(token) as string
                ?? throw new InvalidDataException("the store returned no secret");
            return Convert.FromHexString(secret);
        }, cancellation);
}
