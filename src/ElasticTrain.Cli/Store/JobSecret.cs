using System.Data.Common;
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

    /// <summary>The secret of <paramref name="jobId"/>, created now if the store has none; <see cref="SettingsException"/> if the store cannot say.</summary>
    public static async Task<byte[]> GetOrCreateAsync(JournalStore store, string jobId, TimeSpan timeout, CancellationToken cancellation = default)
    {
        var dialect = StoreDialect.For(store.Provider);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        deadline.CancelAfter(timeout);
        try
        {
            return await StoreDialect.WhileBusy(() => GetOrCreate(dialect, store, jobId, timeout, deadline.Token), deadline.Token);
        }
        catch (OperationCanceledException) when (!cancellation.IsCancellationRequested)
        {
            throw new SettingsException($"store ({store.Description}) did not give the data-plane secret within {timeout.TotalSeconds:0} s");
        }
        catch (Exception e) when (e is DbException or InvalidOperationException or IOException or FormatException or System.Net.Sockets.SocketException)
        {
            throw new SettingsException($"cannot read the data-plane secret from the store ({store.Description}): {HoconFiles.FirstLine(e.GetBaseException().Message)}");
        }
    }

    private static async Task<byte[]> GetOrCreate(StoreDialect dialect, JournalStore store, string jobId, TimeSpan timeout, CancellationToken cancellation)
    {
        await using var connection = dialect.Connect(store.ArbiterConnectionString);
        await connection.OpenAsync(cancellation);
        await StoreTable.EnsureAsync(connection, CreateSql, timeout, cancellation);
        await using var command = StoreTable.Command(connection, timeout, GetOrCreateSql,
            ("job", jobId), ("secret", Convert.ToHexString(RandomNumberGenerator.GetBytes(Bytes))));
        var secret = await command.ExecuteScalarAsync(cancellation) as string
            ?? throw new InvalidDataException("the store returned no secret");
        return Convert.FromHexString(secret);
    }
}
