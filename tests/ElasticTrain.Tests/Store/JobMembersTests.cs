using ElasticTrain.Cli.Hosting;
using ElasticTrain.Cli.Store;
using ElasticTrain.Tests.Support;
using Microsoft.Data.Sqlite;

namespace ElasticTrain.Tests.Store;

/// <summary>The job's member list in the store, where a rejoining node finds its ways back in (SQLite per test; PostgreSQL when set).</summary>
public sealed class JobMembersTests : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);
    private readonly string _folder = Directory.CreateTempSubdirectory("elastictrain-members-").FullName;

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_folder, recursive: true);
    }

    [Fact]
    public Task Members_announce_themselves_per_job_and_leave_on_SQLite() =>
        AnnounceAndLeave(JournalStore.Resolve(Path.Combine(_folder, "store.db"), _folder), "main");

    [SkippableFact]
    public async Task Members_announce_themselves_per_job_and_leave_on_PostgreSQL() =>
        await AnnounceAndLeave(JournalStore.Resolve(TestPostgres.ConnectionString(), _folder), $"job-{Guid.NewGuid():N}");

    private static async Task AnnounceAndLeave(JournalStore store, string job)
    {
        Assert.Empty(await JobMembers.RecentAsync(store, job, Timeout));
        await JobMembers.AnnounceAsync(store, job, "10.0.0.1:4000", Timeout);
        await Task.Delay(20); // distinct times in milliseconds: the order below is by time
        await JobMembers.AnnounceAsync(store, job, "10.0.0.2:4000", Timeout);
        await JobMembers.AnnounceAsync(store, job + "-other", "10.0.0.3:4000", Timeout);
        Assert.Equal(["10.0.0.2:4000", "10.0.0.1:4000"], await JobMembers.RecentAsync(store, job, Timeout));

        // Announcing again is one row, moved to the front.
        await Task.Delay(20);
        await JobMembers.AnnounceAsync(store, job, "10.0.0.1:4000", Timeout);
        Assert.Equal(["10.0.0.1:4000", "10.0.0.2:4000"], await JobMembers.RecentAsync(store, job, Timeout));

        await JobMembers.ForgetAsync(store, job, "10.0.0.1:4000", Timeout);
        Assert.Equal(["10.0.0.2:4000"], await JobMembers.RecentAsync(store, job, Timeout));
    }

    [Fact]
    public async Task A_member_silent_for_longer_than_recent_is_no_way_in()
    {
        var store = JournalStore.Resolve(Path.Combine(_folder, "store.db"), _folder);
        await JobMembers.AnnounceAsync(store, "main", "10.0.0.1:4000", Timeout);
        await JobMembers.AnnounceAsync(store, "main", "10.0.0.2:4000", Timeout);
        // Age one entry past the window, by the database's own clock.
        await using (var connection = new SqliteConnection(store.ArbiterConnectionString))
        {
            await connection.OpenAsync();
            await using var command = connection.CreateCommand();
            command.CommandText = "UPDATE elastictrain_members SET seen_ms = seen_ms - @age WHERE address = '10.0.0.1:4000'";
            command.Parameters.AddWithValue("@age", (long)JobMembers.Recent.TotalMilliseconds + 1000);
            await command.ExecuteNonQueryAsync();
        }
        Assert.Equal(["10.0.0.2:4000"], await JobMembers.RecentAsync(store, "main", Timeout));
    }
}
