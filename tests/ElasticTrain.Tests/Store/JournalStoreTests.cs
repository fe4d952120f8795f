using ElasticTrain.Cli.Hosting;
using Microsoft.Data.Sqlite;

namespace ElasticTrain.Tests.Store;

public sealed class JournalStoreTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("elastictrain-store-").FullName;

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_folder, recursive: true);
    }

    /// <summary>
    /// After the probe, the SQLite journal is in write-ahead-log mode for every connection that opens
    /// it (the mode is the file's), and a connection opened as the persistence plugins open theirs
    /// syncs the log at each commit (synchronous = FULL): a committed step survives a power cut.
    /// </summary>
    [Fact]
    public void A_probed_SQLite_journal_logs_ahead_and_syncs_every_commit()
    {
        var store = JournalStore.Resolve(Path.Combine(_folder, "journal.db"), _folder);
        store.Probe();
        using var connection = new SqliteConnection(store.ConnectionString);
        connection.Open();
        Assert.Equal(("wal", 2L), (Pragma(connection, "journal_mode"), Pragma(connection, "synchronous")));
    }

    private static object Pragma(SqliteConnection connection, string name)
    {
        using var command = connection.CreateCommand();
        command.CommandText = $"PRAGMA {name};";
        return command.ExecuteScalar()!;
    }
}
