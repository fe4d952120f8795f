using ElasticTrain.Cli.Hosting;
using ElasticTrain.Cli.Store;
using ElasticTrain.Tests.Support;
using Microsoft.Data.Sqlite;

namespace ElasticTrain.Tests.Store;

/// <summary>The job's data-plane secret, got or created in the store (a SQLite file per test; PostgreSQL when ELASTICTRAIN_TEST_POSTGRES names one).</summary>
public sealed class JobSecretTests : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);
    private readonly string _folder = Directory.CreateTempSubdirectory("elastictrain-secret-").FullName;

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_folder, recursive: true);
    }

    [Fact]
    public Task Each_job_has_one_secret_on_SQLite() => EachJobHasOneSecret(JournalStore.Resolve(Path.Combine(_folder, "store.db"), _folder), "main");

    [Fact]
    public void The_check_tag_tells_secrets_apart_without_showing_them()
    {
        var secret = Enumerable.Range(0, JobSecret.Bytes).Select(i => (byte)i).ToArray();
        var another = secret.Select(b => (byte)(b ^ 0x5a)).ToArray();
        var tag = JobSecret.Check(secret, "main");

        Assert.Equal(32, tag.Length); // 16 bytes in hex
        Assert.Equal(tag, JobSecret.Check([.. secret], "main"));
        Assert.NotEqual(tag, JobSecret.Check(another, "main"));
        Assert.NotEqual(tag, JobSecret.Check(secret, "other"));
        Assert.DoesNotContain(Convert.ToHexString(secret)[..8], tag);
    }

    [SkippableFact]
    public async Task Each_job_has_one_secret_on_PostgreSQL()
    {
        var connection = TestPostgres.ConnectionString();
        // Job ids unique per run: the database outlives the test.
        await EachJobHasOneSecret(JournalStore.Resolve(connection, _folder), $"job-{Guid.NewGuid():N}");
    }

    private static async Task EachJobHasOneSecret(JournalStore store, string job)
    {
        var first = await JobSecret.GetOrCreateAsync(store, job, Timeout);
        var again = await JobSecret.GetOrCreateAsync(store, job, Timeout);
        var other = await JobSecret.GetOrCreateAsync(store, job + "-other", Timeout);

        Assert.Equal(JobSecret.Bytes, first.Length);
        Assert.Equal(first, again);
        Assert.NotEqual(first, other);
        // Nodes starting together: whoever inserts first wins, and everyone gets the winner's secret.
        var racing = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => Task.Run(() => JobSecret.GetOrCreateAsync(store, job + "-race", Timeout))));
        Assert.All(racing, s => Assert.Equal(racing[0], s));
    }
}
