using System.Data.Common;

namespace ElasticTrain.Cli.Store;

/// <summary>
/// What the small tables the nodes share in the job's store (leases, the data-plane secret, the
/// job's members) do alike: create themselves on first use, and run parameterized statements
/// bounded by a timeout.
/// </summary>
internal static class StoreTable
{
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
