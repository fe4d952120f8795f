using Akka.Configuration;
using ElasticTrain.Configuration;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace ElasticTrain.Cli.Hosting;

/// <summary>
/// Where the coordinator's journal and snapshots go: SQLite (the embedded default, one file, no
/// server) or PostgreSQL (for clusters of machines), both through Akka.Persistence.Sql. The store is
/// probed before the actor system starts so that an unusable one is one clear error, not a
/// persistence failure deep inside a running job.
/// </summary>
public sealed record JournalStore(string Provider, string ConnectionString, string Description)
{
    public static JournalStore Resolve(string store, string dataDirectory)
    {
        if (store.Contains("Host=", StringComparison.OrdinalIgnoreCase))
            return new JournalStore("PostgreSQL.15", store, "PostgreSQL");
        var path = store.Length == 0 ? Path.Combine(dataDirectory, "elastictrain.db") : store;
        var builder = new SqliteConnectionStringBuilder { DataSource = Path.GetFullPath(path), Pooling = true };
        return new JournalStore("SQLite.MS", builder.ToString(), $"SQLite {path}");
    }

    /// <summary>Opens the store once; throws <see cref="SettingsException"/> with the reason if it cannot be used.</summary>
    public void Probe()
    {
        try
        {
            if (Provider == "SQLite.MS")
            {
                var file = new SqliteConnectionStringBuilder(ConnectionString).DataSource;
                var folder = Path.GetDirectoryName(file)!;
                if (File.Exists(folder)) throw new IOException($"'{folder}' is a file, not a folder");
                Directory.CreateDirectory(folder);
                // SQLite writes its rollback journal beside the database: the folder must take new files.
                using (new FileStream(Path.Combine(folder, $".elastictrain-probe-{Environment.ProcessId}"), FileMode.Create,
                           FileAccess.Write, FileShare.None, 1, FileOptions.DeleteOnClose)) { }
                using var connection = new SqliteConnection(ConnectionString);
                connection.Open();
                using var command = connection.CreateCommand();
                // Reads the schema (fails on a file that is not a SQLite database) and takes the
                // write lock (fails on a read-only database), then changes nothing.
                command.CommandText = "SELECT count(*) FROM sqlite_master; BEGIN IMMEDIATE; ROLLBACK;";
                command.ExecuteNonQuery();
                // Write-ahead logging: a commit appends to the log and syncs it once, where the
                // rollback journal creates, syncs and deletes a file beside the database and syncs
                // the database as well, on every step's commit. As durable (synchronous stays FULL:
                // the log is synced at each commit); the mode is kept in the file, so the persistence
                // plugins' connections and every later node's use it too.
                command.CommandText = "PRAGMA journal_mode = WAL;";
                command.ExecuteNonQuery();
            }
            else
            {
                var builder = new NpgsqlConnectionStringBuilder(ConnectionString) { Timeout = 5 };
                using var connection = new NpgsqlConnection(builder.ToString());
                connection.Open();
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or SqliteException or NpgsqlException
                                   or ArgumentException or InvalidOperationException or System.Net.Sockets.SocketException)
        {
            throw new SettingsException($"store unusable ({Description}): {HoconFiles.FirstLine(e.GetBaseException().Message)}");
        }
    }

    /// <summary>
    /// Where the leases and the job's data-plane secret live. On PostgreSQL, the same database. On
    /// SQLite, a file beside the journal's: SQLite locks a whole file while one process writes, and
    /// a process frozen in the middle of a journal write (a long pause, SIGSTOP) must not keep the
    /// others from taking the lease it is about to lose.
    /// </summary>
    public string ArbiterConnectionString => Provider == "SQLite.MS"
        ? new SqliteConnectionStringBuilder(ConnectionString) { DataSource = ArbiterFile(new SqliteConnectionStringBuilder(ConnectionString).DataSource) }.ToString()
        : ConnectionString;

    /// <summary>"x/elastictrain.db" holds the journal, "x/elastictrain.leases.db" the leases.</summary>
    public static string ArbiterFile(string journalFile) =>
        Path.Combine(Path.GetDirectoryName(journalFile) ?? "", Path.GetFileNameWithoutExtension(journalFile) + ".leases.db");

    /// <summary>
    /// The persistence plugins' and the store lease's connection settings, for the front of the
    /// node's config; <paramref name="jobId"/> scopes the leases.
    /// </summary>
    public Config ToConfig(string jobId)
    {
        string Quote(string s) => System.Text.Json.JsonSerializer.Serialize(s);
        return ConfigurationFactory.ParseString($$"""
            akka.persistence.journal.sql { connection-string = {{Quote(ConnectionString)}}, provider-name = {{Quote(Provider)}} }
            akka.persistence.snapshot-store.sql { connection-string = {{Quote(ConnectionString)}}, provider-name = {{Quote(Provider)}} }
            akka.persistence.query.journal.sql { connection-string = {{Quote(ConnectionString)}}, provider-name = {{Quote(Provider)}} }
            elastictrain.store-lease { connection-string = {{Quote(ArbiterConnectionString)}}, provider = {{Quote(Provider)}}, scope = {{Quote("job-" + jobId)}} }
            elastictrain.resolver-lease { connection-string = {{Quote(ArbiterConnectionString)}}, provider = {{Quote(Provider)}}, scope = {{Quote("job-" + jobId)}}, job = {{Quote(jobId)}} }
            """);
    }
}
