using System.Diagnostics;

namespace ElasticTrain.Tests.Processes;

/// <summary>
/// The PostgreSQL server that `.ci/run` installs and starts (`.ci/postgres.sh`). Tests that need it
/// are skipped, saying why, where ELASTICTRAIN_TEST_POSTGRES is not set, and fail in CI
/// (ELASTICTRAIN_REQUIRE_POSTGRES=1) rather than skip.
/// </summary>
public static class Postgres
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

    /// <summary>Stops or starts the local server (Debian's pg_ctlcluster, as root): an outage made on purpose.</summary>
    public static void Control(string action)
    {
        var version = Directory.GetDirectories("/etc/postgresql").Select(Path.GetFileName).OrderBy(v => int.Parse(v!)).Last();
        using var process = Process.Start(new ProcessStartInfo("pg_ctlcluster", [version!, "main", action, .. action == "stop" ? new[] { "-m", "fast" } : []])
            { RedirectStandardError = true, RedirectStandardOutput = true })!;
        process.WaitForExit();
        if (process.ExitCode != 0) throw new InvalidOperationException($"pg_ctlcluster {action}: {process.StandardError.ReadToEnd()}");
    }
}
