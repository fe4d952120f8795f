using System.Data.Common;
using Akka.Coordination;

namespace ElasticTrain.Cli.Store;

/// <summary>
/// The SQL behind <see cref="StoreLease"/>: one table, <c>elastictrain_leases</c>, holding every
/// lease of every job that shares the store, one row per lease name. Each operation is a single
/// conditional statement, so the database alone decides who holds a lease; no read-then-write
/// race exists to get wrong.
/// <para>
/// Every operation is bounded by the operation timeout. Microsoft.Data.Sqlite runs "async" calls
/// synchronously and cannot be cancelled mid-statement, so the work runs on the thread pool and
/// the caller stops waiting at the deadline; the statement itself is also bounded by its command
/// timeout (whole seconds, which is what ADO.NET offers). Any failure to get an answer is reported
/// as a <see cref="LeaseException"/>: the caller cannot know whether the statement took effect.
/// </para>
/// </summary>
internal sealed class LeaseTable(StoreDialect dialect, string connectionString)
{
    private const string Table = "elastictrain_leases";

    // BIGINT milliseconds in both stores: exact, and the same type on both sides of every comparison.
    private const string CreateSql = $"""
        CREATE TABLE IF NOT EXISTS {Table} (
            name TEXT PRIMARY KEY,
            owner TEXT NOT NULL,
            expires_ms BIGINT NOT NULL,
            token BIGINT NOT NULL)
        """;

    private volatile bool _created;

    /// <summary>
    /// Takes the lease for <paramref name="owner"/> if nobody holds it, it has expired, or the
    /// owner already holds it; returns the fencing token, or null when someone else holds it.
    /// The token stays the same only when this very holding (<paramref name="heldToken"/>, 0 if
    /// none) continues unexpired; any other success is a new holding and gets the next token, so
    /// a second process that happens to use the same owner name still fences out the first.
    /// </summary>
    public Task<long?> Acquire(string name, string owner, long ttlMs, long heldToken, TimeSpan timeout) =>
        Run(timeout, async (connection, ct) =>
        {
            var now = dialect.NowMs;
            await using var command = StoreTable.Command(connection, timeout, $"""
                INSERT INTO {Table} (name, owner, expires_ms, token)
                VALUES (@name, @owner, {now} + @ttl, 1)
                ON CONFLICT (name) DO UPDATE SET
                    token = CASE WHEN {Table}.owner = excluded.owner AND {Table}.token = @held AND {Table}.expires_ms > {now}
                                 THEN {Table}.token ELSE {Table}.token + 1 END,
                    owner = excluded.owner,
                    expires_ms = excluded.expires_ms
                WHERE {Table}.owner = excluded.owner OR {Table}.expires_ms <= {now}
                RETURNING token
                """, ("name", name), ("owner", owner), ("ttl", ttlMs), ("held", heldToken));
            var result = await command.ExecuteScalarAsync(ct).ConfigureAwait(false);
            return result is null or DBNull ? (long?)null : Convert.ToInt64(result);
        });

    /// <summary>
    /// Extends this holding by <paramref name="ttlMs"/> from the database's now; false when the
    /// holding is gone (the token moved on or the row has another owner). Deliberately not the
    /// acquire upsert: a renewal must never turn into a fresh acquisition, or a holder that lost
    /// the lease in between would carry on as if nothing had happened under a token it never saw.
    /// </summary>
    public Task<bool> Renew(string name, string owner, long token, long ttlMs, TimeSpan timeout) =>
        Run(timeout, async (connection, ct) =>
        {
            await using var command = StoreTable.Command(connection, timeout, $"""
                UPDATE {Table} SET expires_ms = {dialect.NowMs} + @ttl
                WHERE name = @name AND owner = @owner AND token = @token
                """, ("name", name), ("owner", owner), ("token", token), ("ttl", ttlMs));
            return await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false) == 1;
        });

    /// <summary>
    /// Expires the row if <paramref name="owner"/> holds it, keeping owner and token so the next
    /// holder's token is higher. With <paramref name="token"/> 0 (not held here, e.g. an acquire
    /// that timed out but may have landed) any holding by this owner is expired. Expiry is set to
    /// 0 rather than "now" so a database clock stepping backwards cannot revive the holding.
    /// </summary>
    public Task<bool> Release(string name, string owner, long token, TimeSpan timeout) =>
        Run(timeout, async (connection, ct) =>
        {
            await using var command = StoreTable.Command(connection, timeout, $"""
                UPDATE {Table} SET expires_ms = 0
                WHERE name = @name AND owner = @owner AND (@token = 0 OR token = @token)
                """, ("name", name), ("owner", owner), ("token", token));
            return await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false) == 1;
        });

    /// <summary>Who holds the row now, for messages only; never used to decide anything.</summary>
    public Task<LeaseRow?> Read(string name, TimeSpan timeout) =>
        Run(timeout, async (connection, ct) =>
        {
            await using var command = StoreTable.Command(connection, timeout, $"""
                SELECT owner, token, expires_ms - {dialect.NowMs} FROM {Table} WHERE name = @name
                """, ("name", name));
            await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
            if (!await reader.ReadAsync(ct).ConfigureAwait(false)) return null;
            return new LeaseRow(reader.GetString(0), reader.GetInt64(1), reader.GetInt64(2));
        });

    private async Task<T> Run<T>(TimeSpan timeout, Func<DbConnection, CancellationToken, Task<T>> work)
    {
        using var cancel = new CancellationTokenSource(timeout);
        var ct = cancel.Token;
        try
        {
            return await Task.Run(() => StoreDialect.WhileBusy(async () =>
            {
                await using var connection = dialect.Connect(connectionString);
                await connection.OpenAsync(ct).ConfigureAwait(false);
                await EnsureCreated(connection, timeout, ct).ConfigureAwait(false);
                return await work(connection, ct).ConfigureAwait(false);
            }, ct), ct).WaitAsync(timeout).ConfigureAwait(false);
        }
        catch (Exception e) when (e is TimeoutException or OperationCanceledException)
        {
            throw new LeaseException($"{dialect.Name} lease store did not answer within {timeout.TotalMilliseconds:0} ms", e);
        }
        catch (Exception e) when (e is DbException or InvalidOperationException or IOException or System.Net.Sockets.SocketException)
        {
            throw new LeaseException($"{dialect.Name} lease store unusable: {e.GetBaseException().Message}", e);
        }
    }

    private async Task EnsureCreated(DbConnection connection, TimeSpan timeout, CancellationToken ct)
    {
        if (_created) return;
        await StoreTable.EnsureAsync(connection, CreateSql, timeout, ct).ConfigureAwait(false);
        _created = true;
    }
}

/// <summary>A lease row as the store has it; <see cref="RemainingMs"/> is by the database's clock (negative: expired).</summary>
internal sealed record LeaseRow(string Owner, long Token, long RemainingMs);
