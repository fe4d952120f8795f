using System.Data.Common;
using ElasticTrain.Cli.Hosting;
using ElasticTrain.Configuration;

namespace ElasticTrain.Cli.Store;

/// <summary>
/// What the small tables the nodes share in the job's store (leases, the data-plane secret, the
/// job's members) do alike: create themselves on first use, and run parameterized statements
/// bounded by a timeout.
/// </summary>
internal static class StoreTable
{
    /// <summary>
    /// Opens the store's arbiter connection, makes sure the table exists, and runs
    /// <paramref name="body"/>, retried while SQLite is busy, within <paramref name="timeout"/>.
    /// Any failure of the store becomes one <see cref="SettingsException"/> that says what was wanted.
    /// </summary>
    /// <param name="what">What was asked of the store, for the error line (e.g. "the data-plane secret").</param>
    public static async Task<T> RunAsync<T>(JournalStore store, string createSql, string what, TimeSpan timeout,
        Func<DbConnection, CancellationToken, Task<T>> body, CancellationToken cancellation)
    {
        var dialect = StoreDialect.For(store.Provider);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        deadline.CancelAfter(timeout);
        try
        {
            return await StoreDialect.WhileBusy(async () =>
            {
                await using var connection = dialect.Connect(store.ArbiterConnectionString);
                await connection.OpenAsync(deadline.Token);
                await EnsureAsync(connection, createSql, timeout, deadline.Token);
                return await body(connection, deadline.Token);
            }, deadline.Token);
        }
        catch (OperationCanceledException) when (!cancellation.IsCancellationRequested)
        {
            throw new SettingsException($"store ({store.Description}) did not give {what} within {timeout.TotalSeconds:0} s");
        }
        catch (Exception e) when (e is DbException or InvalidOperationException or IOException or FormatException or System.Net.Sockets.SocketException)
        {
            throw new SettingsException($"cannot read {what} from the store ({store.Description}): {HoconFiles.FirstLine(e.GetBaseException().Message)}");
        }
    }

    /// <summary>Runs <paramref name="createSql"/> (a CREATE TABLE IF NOT EXISTS).</summary>
    public static async Task EnsureAsync(DbConnection connection, string createSql, TimeSpan timeout, CancellationToken cancellation)
    {
        await using var command = Command(connection, timeout, createSql);
        try
        {
            await command.ExecuteNonQueryAsync(cancellation).ConfigureAwait(false);
        }
        catch (Npgsql.PostgresException e) when (e.SqlState is "23505" or "42P07")
        {
            // Two processes creating the table at once: PostgreSQL's IF NOT EXISTS is not atomic
            // against a concurrent CREATE, and the loser sees a duplicate. The table exists; carry on.
        }
    }

    /// <summary>A command for <paramref name="sql"/> whose @-parameters are <paramref name="parameters"/>.</summary>
    public static DbCommand Command(DbConnection connection, TimeSpan timeout, string sql, params (string Name, object Value)[] parameters)
    {
        var command = connection.CreateCommand();
        command.CommandText = sql;
        command.CommandTimeout = Math.Max(1, (int)Math.Ceiling(timeout.TotalSeconds));
        foreach (var (name, value) in parameters)
        {
            var parameter = command.CreateParameter();
            parameter.ParameterName = "@" + name;
            parameter.Value = value;
            command.Parameters.Add(parameter);
        }
        return command;
    }
}
