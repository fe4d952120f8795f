namespace ElasticTrain.Tests.Support;

/// <summary>
/// The PostgreSQL server that `.ci/run` installs and starts (`.ci/postgres.sh`). Tests that need it
/// are skipped, saying why, where ELASTICTRAIN_TEST_POSTGRES is not set, and fail in CI
/// (ELASTICTRAIN_REQUIRE_POSTGRES=1) rather than skip. The database outlives the tests: names in
/// it (jobs, leases) must be unique per run.
/// </summary>
public static class TestPostgres
{
    public static string ConnectionString()
    {
        var connection = Environment.GetEnvironmentVariable("ELASTICTRAIN_TEST_POSTGRES");
        if (Environment.GetEnvironmentVariable("ELASTICTRAIN_REQUIRE_POSTGRES") == "1")
            Assert.False(string.IsNullOrEmpty(connection), "ELASTICTRAIN_REQUIRE_POSTGRES=1 but ELASTICTRAIN_TEST_POSTGRES is not set");
        Skip.If(string.IsNullOrEmpty(connection),
            "no PostgreSQL: set ELASTICTRAIN_TEST_POSTGRES to a connection string (bash .ci/postgres.sh prints one)");
        return connection!;
    }
}
