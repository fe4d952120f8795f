using System.Collections.Concurrent;
using System.Data.Common;
using ElasticTrain.Cli.Hosting;

namespace ElasticTrain.Cli.Store;

/// <summary>
/// Where a job's nodes can be found, kept in the job's store: every node serving the job writes
/// its cluster address (HOST:PORT) with the database's time every couple of seconds, and removes
/// it when it leaves. A node that joins, or rejoins after the cluster removed it, tries the
/// recent ones as well as its --join address, which may name a node that has died since.
/// </summary>
public static class JobMembers
{
    private const string Table = "elastictrain_members";

    private const string CreateSql = $"""
        CREATE TABLE IF NOT EXISTS {Table} (
            job TEXT NOT NULL,
            address TEXT NOT NULL,
            seen_ms BIGINT NOT NULL,
            PRIMARY KEY (job, address))
        """;

    /// <summary>
    /// How recently a node must have written its address to count as a way in: several of its
    /// writes, so that one slow write does not drop a live node, yet short enough that a rejoin
    /// does not spend its patience on nodes that died minutes ago.
    /// </summary>
    public static readonly TimeSpan Recent = TimeSpan.FromSeconds(15);

    // The stores whose table this process has created: a node announces itself every 2 s, and the
    // CREATE TABLE IF NOT EXISTS need not travel with each announcement.
    private static readonly ConcurrentDictionary<string, bool> Created = new();

    /// <summary>How a member's cluster address is recorded here: HOST:PORT.</summary>
    public static string EntryOf(Akka.Actor.Address address) => $"{address.Host}:{address.Port}";

    /// <summary>Records that <paramref name="address"/> serves <paramref name="jobId"/> now.</summary>
    public static Task AnnounceAsync(JournalStore store, string jobId, string address, TimeSpan timeout) =>
        Run(store, timeout, async (connection, dialect, ct) =>
        {
            await using var command = StoreTable.Command(connection, timeout, $"""
                INSERT INTO {Table} (job, address, seen_ms) VALUES (@job, @address, {dialect.NowMs})
                ON CONFLICT (job, address) DO UPDATE SET seen_ms = excluded.seen_ms
                """, ("job", jobId), ("address", address));
            return await command.ExecuteNonQueryAsync(ct);
        });

    /// <summary>Removes <paramref name="address"/>: it left the job.</summary>
    public static Task ForgetAsync(JournalStore store, string jobId, string address, TimeSpan timeout) =>
        Run(store, timeout, async (connection, _, ct) =>
        {
            await using var command = StoreTable.Command(connection, timeout,
                $"DELETE FROM {Table} WHERE job = @job AND address = @address", ("job", jobId), ("address", address));
            return await command.ExecuteNonQueryAsync(ct);
        });

    /// <summary>The addresses written within <see cref="Recent"/>, the most recent first.</summary>
    public static Task<IReadOnlyList<string>> RecentAsync(JournalStore store, string jobId, TimeSpan timeout) =>
        SeenWithinAsync(store.Provider, store.ArbiterConnectionString, jobId, Recent, timeout);

    /// <summary>
    /// The addresses written within <paramref name="within"/> by the database's clock, the most
    /// recent first; the store named by its provider and its arbiter connection string.
    /// </summary>
    public static Task<IReadOnlyList<string>> SeenWithinAsync(string provider, string connectionString, string jobId, TimeSpan within, TimeSpan timeout) =>
        Run<IReadOnlyList<string>>(provider, connectionString, timeout, async (connection, dialect, ct) =>
        {
            await using var command = StoreTable.Command(connection, timeout, $"""
                SELECT address FROM {Table}
                WHERE job = @job AND seen_ms >= {dialect.NowMs} - @within
                ORDER BY seen_ms DESC
                """, ("job", jobId), ("within", (long)within.TotalMilliseconds));
            var addresses = new List<string>();
            await using var reader = await command.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct)) addresses.Add(reader.GetString(0));
            return addresses;
        });

    private static Task<T> Run<T>(JournalStore store, TimeSpan timeout, Func<DbConnection, StoreDialect, CancellationToken, Task<T>> work) =>
        Run(store.Provider, store.ArbiterConnectionString, timeout, work);

    private static async Task<T> Run<T>(string provider, string connectionString, TimeSpan timeout, Func<DbConnection, StoreDialect, CancellationToken, Task<T>> work)
    {
        var dialect = StoreDialect.For(provider);
        using var deadline = new CancellationTokenSource(timeout);
        // Microsoft.Data.Sqlite's async calls run synchronously: off the caller's thread, and
        // abandoned at the deadline.
        return await Task.Run(() => StoreDialect.WhileBusy(async () =>
        {
            await using var connection = dialect.Connect(connectionString);
            await connection.OpenAsync(deadline.Token);
            if (!Created.ContainsKey(connectionString))
            {
                await StoreTable.EnsureAsync(connection, CreateSql, timeout, deadline.Token);
                Created[connectionString] = true;
            }
            return await work(connection, dialect, deadline.Token);
        }, deadline.Token), deadline.Token).WaitAsync(timeout);
    }
}
