using Akka.Actor;
using Akka.Configuration;
using Akka.Coordination;
using ElasticTrain.Cli.Store;
using ElasticTrain.Tests.Support;
using Microsoft.Data.Sqlite;

namespace ElasticTrain.Tests.Store;

/// <summary>
/// The store lease against a real SQLite file (and PostgreSQL when ELASTICTRAIN_TEST_POSTGRES names
/// one), with short times: time-to-live 3 s, renewal every 250 ms. Each test gets its own file.
/// </summary>
public sealed class StoreLeaseTests : IDisposable
{
    // Generous for a loaded 2-core machine running other test classes beside these: the first
    // statement of a test process also pays for opening SQLite and creating the table.
    private static readonly TimeSpan Ttl = TimeSpan.FromSeconds(3);
    private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(250);
    private static readonly TimeSpan OperationTimeout = TimeSpan.FromSeconds(2);

    private readonly string _folder = Directory.CreateTempSubdirectory("elastictrain-lease-").FullName;
    private readonly List<StoreLease> _leases = [];

    private string Sqlite => $"Data Source={Path.Combine(_folder, "store.db")}";

    public void Dispose()
    {
        foreach (var lease in _leases) lease.Dispose();
        SqliteConnection.ClearAllPools();
        // A statement abandoned at its deadline may still be finishing (and writing SQLite's
        // journal file) on the thread pool: give it a moment rather than fail over a temp folder.
        for (var attempt = 0; ; attempt++)
        {
            try { Directory.Delete(_folder, recursive: true); return; }
            catch (IOException) when (attempt < 10) { Thread.Sleep(200); }
            catch (IOException) { return; }
        }
    }

    [Fact]
    public Task Acquire_refuse_renew_release_on_SQLite() => AcquireRefuseRenewRelease(Sqlite, "SQLite.MS", "job-1/sbr");

    /// <summary>
    /// The same sequence on PostgreSQL. `.ci/run` starts a server and sets ELASTICTRAIN_TEST_POSTGRES;
    /// elsewhere the test says it is skipped and why. Lease names are unique per run because the
    /// database outlives the test.
    /// </summary>
    [SkippableFact]
    public async Task Acquire_refuse_renew_release_on_PostgreSQL()
    {
        var connection = TestPostgres.ConnectionString();
        await AcquireRefuseRenewRelease(connection, "PostgreSQL.15", $"job-{Guid.NewGuid():N}/sbr");
    }

    private async Task AcquireRefuseRenewRelease(string connection, string provider, string name)
    {
        var a = Lease(name, "node-a", connection, provider);
        var b = Lease(name, "node-b", connection, provider);

        Assert.True(await a.Acquire());
        Assert.Equal(1L, a.Token);
        Assert.True(a.CheckLease());
        Assert.False(await b.Acquire());
        Assert.Equal(0L, b.Token);

        // Longer than the time-to-live: only the renewals keep the holding, under the same token.
        await Task.Delay(Ttl + Ttl / 2);
        Assert.True(a.CheckLease());
        Assert.Equal(1L, a.Token);
        Assert.False(await b.Acquire());

        Assert.True(await a.Release());
        Assert.False(a.CheckLease());
        Assert.Equal(0L, a.Token);
        Assert.True(await b.Acquire());
        Assert.Equal(2L, b.Token);
        Assert.False(await a.Acquire());
    }

    [Fact]
    public async Task A_holder_cut_off_from_the_store_loses_the_lease_at_the_ttl_and_the_next_owner_gets_token_2()
    {
        // Node a reaches the store through a symbolic link; removing the link cuts a off while b,
        // which opens the file directly, still reaches it. No pooling, so a really has to reconnect.
        var real = Directory.CreateDirectory(Path.Combine(_folder, "real")).FullName;
        var link = Path.Combine(_folder, "link");
        Directory.CreateSymbolicLink(link, real);
        var a = Lease("job-1/coordinator", "node-a", $"Data Source={Path.Combine(link, "store.db")};Pooling=False");
        var b = Lease("job-1/coordinator", "node-b", $"Data Source={Path.Combine(real, "store.db")}");
        var lost = new TaskCompletionSource<Exception>(TaskCreationOptions.RunContinuationsAsynchronously);

        Assert.True(await a.Acquire(e => lost.TrySetResult(e)));
        Assert.Equal(1L, a.Token);
        Directory.Delete(link);

        // Failed renewals alone are not a loss: within the time-to-live a still holds the lease.
        await Task.Delay(Interval * 3);
        Assert.False(lost.Task.IsCompleted);
        Assert.True(a.CheckLease());
        Assert.False(await b.Acquire());

        var cause = await lost.Task.WaitAsync(Ttl * 2);
        Assert.IsType<LeaseTimeoutException>(cause);
        Assert.False(a.CheckLease());
        Assert.Equal(0L, a.Token);

        await Eventually(b.Acquire, Ttl * 2);
        Assert.Equal(2L, b.Token);
    }

    [Fact]
    public async Task A_renewal_that_finds_another_owner_calls_the_lost_callback_naming_it()
    {
        var a = Lease("job-1/sbr", "node-a", Sqlite);
        var lost = new TaskCompletionSource<Exception>(TaskCreationOptions.RunContinuationsAsynchronously);
        Assert.True(await a.Acquire(e => lost.TrySetResult(e)));

        // As if another node had taken over behind a's back (a's clock and the store's disagreeing).
        Execute(Sqlite, "UPDATE elastictrain_leases SET owner = 'node-x', token = token + 1 WHERE name = 'job-1/sbr'");

        var cause = await lost.Task.WaitAsync(Ttl);
        Assert.IsType<LeaseException>(cause);
        Assert.Contains("node-x", cause.Message);
        Assert.False(a.CheckLease());
        Assert.Equal(0L, a.Token);
    }

    [Fact]
    public async Task Release_lets_another_owner_acquire_at_once_with_a_higher_token_and_is_not_a_loss()
    {
        var a = Lease("job-1/sbr", "node-a", Sqlite);
        var b = Lease("job-1/sbr", "node-b", Sqlite);
        var lostCalls = 0;
        Assert.True(await a.Acquire(_ => Interlocked.Increment(ref lostCalls)));

        Assert.True(await a.Release());
        Assert.True(await b.Acquire());
        Assert.Equal(2L, b.Token);
        Assert.True(await b.Release());
        Assert.True(await a.Acquire());
        Assert.Equal(3L, a.Token);

        await Task.Delay(Interval * 2);
        Assert.Equal(0, lostCalls);
        Assert.False(await b.Release(), "b no longer holds it: its release must not touch a's holding");
        Assert.True(a.CheckLease());
    }

    [Fact]
    public async Task Different_lease_names_are_independent()
    {
        var sbr = Lease("job-1/sbr", "node-a", Sqlite);
        var coordinator = Lease("job-1/coordinator", "node-b", Sqlite);
        var otherJob = Lease("job-2/sbr", "node-c", Sqlite);

        Assert.True(await sbr.Acquire());
        Assert.True(await coordinator.Acquire());
        Assert.True(await otherJob.Acquire());
        Assert.Equal([1L, 1L, 1L], [sbr.Token, coordinator.Token, otherJob.Token]);
        Assert.False(await Lease("job-1/sbr", "node-c", Sqlite).Acquire());

        Assert.True(await sbr.Release());
        Assert.True(coordinator.CheckLease());
        Assert.True(otherJob.CheckLease());
    }

    [Fact]
    public async Task Acquiring_again_by_the_same_owner_is_idempotent()
    {
        var a = Lease("job-1/sbr", "node-a", Sqlite);
        Assert.True(await a.Acquire());
        Assert.True(await a.Acquire());
        Assert.True(await a.Acquire());
        Assert.Equal(1L, a.Token);
        Assert.Equal(1L, Convert.ToInt64(Execute(Sqlite, "SELECT token FROM elastictrain_leases WHERE name = 'job-1/sbr'")));
        Assert.False(await Lease("job-1/sbr", "node-b", Sqlite).Acquire());
    }

    [Fact]
    public async Task LeaseProvider_loads_it_from_config_and_Held_finds_the_holding()
    {
        var config = ConfigurationFactory.ParseString($$"""
            elastictrain.store-lease {
              lease-class = "ElasticTrain.Cli.Store.StoreLease, elastictrain"
              heartbeat-timeout = 2s
              heartbeat-interval = 300ms
              lease-operation-timeout = 1s
              connection-string = {{System.Text.Json.JsonSerializer.Serialize(Sqlite)}}
              provider = "SQLite.MS"
            }
            """);
        using var system = ActorSystem.Create("store-lease-test", config);
        var lease = LeaseProvider.Get(system).GetLease("job-1/sbr", "elastictrain.store-lease", "node-a");
        var store = Assert.IsType<StoreLease>(lease);
        _leases.Add(store);
        Assert.Equal(("job-1/sbr", "node-a"), (store.LeaseName, store.Owner));
        Assert.Null(StoreLease.Held(system, "job-1/sbr"));

        Assert.True(await lease.Acquire());
        Assert.Same(store, StoreLease.Held(system, "job-1/sbr"));
        Assert.Equal(1L, StoreLease.Held(system, "job-1/sbr")!.Token);
        Assert.Null(StoreLease.Held(system, "job-1/coordinator"));

        Assert.True(await lease.Release());
        Assert.Null(StoreLease.Held(system, "job-1/sbr"));
        await system.Terminate();
    }

    private StoreLease Lease(string name, string owner, string connection, string provider = "SQLite.MS")
    {
        var config = ConfigurationFactory.ParseString(
            $"connection-string = {System.Text.Json.JsonSerializer.Serialize(connection)}, provider = \"{provider}\"");
        var lease = new StoreLease(new LeaseSettings(name, owner, new TimeoutSettings(Interval, Ttl, OperationTimeout), config));
        _leases.Add(lease);
        return lease;
    }

    private static object? Execute(string connection, string sql)
    {
        using var db = new SqliteConnection(connection);
        db.Open();
        using var command = db.CreateCommand();
        command.CommandText = sql;
        return command.ExecuteScalar();
    }

    private static async Task Eventually(Func<Task<bool>> attempt, TimeSpan within)
    {
        var deadline = DateTime.UtcNow + within;
        while (!await attempt())
        {
            Assert.True(DateTime.UtcNow < deadline, $"not true within {within.TotalMilliseconds:0} ms");
            await Task.Delay(50);
        }
    }
}
