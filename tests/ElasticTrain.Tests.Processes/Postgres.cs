using System.Diagnostics;

namespace ElasticTrain.Tests.Processes;

/// <summary>The local PostgreSQL server of `.ci/postgres.sh`; tests find it with <see cref="Support.TestPostgres"/>.</summary>
public static class Postgres
{
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
