using System.Data.Common;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace ElasticTrain.Cli.Store;

/// <summary>
/// Everything that differs between the two stores the lease runs on, and nothing else: how to
/// open a connection and how to read the database's clock. The statements in
/// <see cref="LeaseTable"/> are otherwise shared, which keeps the two from drifting apart.
/// </summary>
internal sealed class StoreDialect
{
    public const string SqliteProvider = "SQLite.MS";
    public const string PostgresProvider = "PostgreSQL.15";

    private readonly Func<string, DbConnection> _connect;

    private StoreDialect(string name, string nowMs, Func<string, DbConnection> connect)
    {
        Name = name;
        NowMs = nowMs;
        _connect = connect;
    }

    /// <summary>For error messages.</summary>
    public string Name { get; }

    /// <summary>
    /// An SQL expression for the database's clock in whole milliseconds since the Unix epoch.
    /// Expiry is judged by this one clock, so nodes whose clocks disagree still agree on who holds
    /// a lease.
    /// </summary>
    public string NowMs { get; }

    public DbConnection Connect(string connectionString) => _connect(connectionString);

    /// <summary>
    /// Runs <paramref name="operation"/> again while SQLite answers that another connection holds
    /// its lock (busy, locked), until <paramref name="cancellation"/> ends it. Several processes
    /// share one SQLite file; a statement that meets another's write must wait its turn, not fail:
    /// a lease the resolver cannot take for that reason would down a healthy side.
    /// </summary>
    public static async Task<T> WhileBusy<T>(Func<Task<T>> operation, CancellationToken cancellation)
    {
        for (var delay = 5; ; delay = Math.Min(delay * 2, 100))
        {
            try
            {
                return await operation().ConfigureAwait(false);
            }
            catch (SqliteException e) when (e.SqliteErrorCode is 5 or 6 && !cancellation.IsCancellationRequested)
            {
                await Task.Delay(delay, cancellation).ConfigureAwait(false);
            }
        }
    }

    /// <summary>The dialect for an Akka.Persistence.Sql provider name, as <c>JournalStore.Provider</c> spells it.</summary>
    public static StoreDialect For(string provider) => provider switch
    {
        SqliteProvider => Sqlite,
        PostgresProvider => Postgres,
        _ => throw new ArgumentException(
            $"provider '{provider}' is not supported by the store lease (use {SqliteProvider} or {PostgresProvider})"),
    };

    // julianday('now') is fixed for the duration of one statement, so every mention of the clock
    // in a statement sees the same instant. UPSERT ... RETURNING needs SQLite 3.35 or later; the
    // bundled e_sqlite3 is newer.
    private static readonly StoreDialect Sqlite = new("SQLite",
        "CAST((julianday('now') - 2440587.5) * 86400000.0 AS BIGINT)",
        cs => new SqliteConnection(cs));

    // clock_timestamp(), not now(): now() is the start of the transaction, which under a pooled
    // connection and autocommit is the same thing, but clock_timestamp() says what is meant.
    private static readonly StoreDialect Postgres = new("PostgreSQL",
        "CAST(extract(epoch from clock_timestamp()) * 1000 AS BIGINT)",
        cs => new NpgsqlConnection(cs));
}
