using System.Security.Cryptography;

namespace ElasticTrain.Tests.Training;

/// <summary>Bad input: one line on stderr that starts with "error:", exit code 2, and nothing of an existing job touched.</summary>
public class BadInputTests
{
    private static async Task<string> ExpectRefused(TrainRun run, params string[] args)
    {
        var (code, error) = await run.RunAsync(args);
        Assert.Equal(2, code);
        var lines = error.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.StartsWith("error: ", lines[0]);
        return lines[0];
    }

    [Theory]
    [InlineData(new[] { "--bogus" }, "error: Unrecognized command or argument '--bogus'.")]
    [InlineData(new[] { "--ranks", "0" }, "error: elastictrain.ranks must be between 1 and 1024, not 0")]
    [InlineData(new[] { "--ranks", "x" }, "error: Cannot parse argument 'x' for option '--ranks' as expected type 'System.Int32'.")]
    [InlineData(new[] { "--global-batch", "3", "--ranks", "4" }, "error: global batch 3 is smaller than the 4 ranks: every rank needs at least one sample per step")]
    [InlineData(new[] { "--data", "/nonexistent/corpus" }, "error: data path '/nonexistent/corpus' does not exist")]
    [InlineData(new[] { "--config", "/nonexistent.conf" }, "error: config file '/nonexistent.conf' does not exist")]
    [InlineData(new[] { "--store", "/etc/hostname/journal.db" }, "error: store unusable (SQLite /etc/hostname/journal.db): '/etc/hostname' is a file, not a folder")]
    [InlineData(new[] { "--store", "/proc/version" }, "error: store unusable (SQLite /proc/version): Could not find file '/proc/.elastictrain-probe-PID'.")]
    [InlineData(new[] { "--stages", "0" }, "error: elastictrain.parallel.stages must be between 1 and 1024, not 0")]
    [InlineData(new[] { "--micro-batches", "x" }, "error: elastictrain.parallel.micro-batches must be a whole number, not 'x'")]
    [InlineData(new[] { "--schedule", "zigzag" }, "error: elastictrain.parallel.schedule must be one of 1f1b, gpipe, not 'zigzag'")]
    [InlineData(new[] { "--rank-memory", "lots" }, "error: elastictrain.parallel.rank-memory must be a size such as 4 MiB, not 'lots'")]
    public async Task Bad_input_is_one_error_line_and_exit_code_2(string[] args, string expected)
    {
        using var run = new TrainRun();
        Assert.Equal(expected.Replace("PID", Environment.ProcessId.ToString()), await ExpectRefused(run, args));
    }

    [Theory]
    [InlineData(new[] { "node", "--join", "nowhere" }, "error: --join must be HOST:PORT, not 'nowhere'")]
    [InlineData(new[] { "node" }, "error: node needs --join HOST:PORT of a node of the job, or --discovery config|kubernetes")]
    [InlineData(new[] { "status" }, "error: Option '--join' is required.")]
    [InlineData(new[] { "scale", "--join", "127.0.0.1:1", "--ranks", "-1" }, "error: --ranks must be 0 (all) or more")]
    [InlineData(new[] { "status", "--join", "127.0.0.1:1" }, "error: cannot reach the cluster at 127.0.0.1:1: no answer within 10 s")]
    [InlineData(new[] { "node", "--join", "127.0.0.1:1" }, "error: cannot reach the cluster at 127.0.0.1:1: no answer within 10 s")]
    public async Task Node_and_operator_commands_refuse_bad_input_with_one_line(string[] args, string expected)
    {
        var error = new StringWriter();
        var code = await ElasticTrain.Cli.CliApp.RunAsync([.. args, .. args[0] == "node" ? new[] { "--data-dir", Path.Combine(Path.GetTempPath(), "et-node-" + Guid.NewGuid().ToString("N")) } : []], error);
        Assert.Equal(2, code);
        Assert.Equal(expected, error.ToString().Trim());
    }

    [Fact]
    public async Task A_taken_http_port_is_refused_before_the_job_starts()
    {
        using var run = new TrainRun();
        using var taken = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        taken.Start();
        var port = ((System.Net.IPEndPoint)taken.LocalEndpoint).Port;
        var line = await ExpectRefused(run, "--http-port", port.ToString());
        Assert.StartsWith($"error: cannot serve http on 127.0.0.1:{port} (elastictrain.http.port): ", line);
        Assert.False(Directory.Exists(Path.Combine(run.DataDirectory, "checkpoints")));
    }

    [Fact]
    public async Task A_store_that_is_not_a_database_is_refused()
    {
        using var run = new TrainRun();
        var file = WriteInput(run, "not-a.db", "this is a text file, not a SQLite database, and long enough to have a header");
        Assert.Equal($"error: store unusable (SQLite {file}): SQLite Error 26: 'file is not a database'.", await ExpectRefused(run, "--store", file));
    }

    [Fact]
    public async Task Malformed_hocon_is_refused()
    {
        using var run = new TrainRun();
        var file = WriteInput(run, "bad.conf", "elastictrain {\n  ranks = 2\n");
        Assert.Equal($"error: config file '{file}' is not valid HOCON: line 1: '{{' is never closed", await ExpectRefused(run, "--config", file));
    }

    [Fact]
    public async Task Data_too_small_for_one_window_is_refused()
    {
        using var run = new TrainRun();
        var file = WriteInput(run, "tiny.txt", "short");
        Assert.StartsWith("error: data has 5 bytes", await ExpectRefused(run, "--data", file, "--block", "32"));
    }

    [Fact]
    public async Task A_job_id_reused_with_another_model_is_refused_and_its_journal_and_checkpoints_are_untouched()
    {
        using var run = new TrainRun();
        string[] job = ["--model", "mlp", "--width", "16", "--block", "16", "--global-batch", "4", "--steps", "4", "--checkpoint-every", "2", "--ranks", "1"];
        Assert.Equal(0, (await run.RunAsync(job)).ExitCode);
        var before = Fingerprint(run.DataDirectory);

        var line = await ExpectRefused(run, [.. TrainRun.TinyGpt, "--global-batch", "4", "--steps", "4", "--ranks", "1"]);
        Assert.StartsWith("error: job 'main' exists with another configuration (model mlp -> gpt", line);
        Assert.Equal(before, Fingerprint(run.DataDirectory));
    }

    private static string WriteInput(TrainRun run, string name, string text)
    {
        Directory.CreateDirectory(run.DataDirectory);
        var file = Path.Combine(run.DataDirectory, name);
        File.WriteAllText(file, text);
        return file;
    }

    /// <summary>
    /// Hash of every file under the data folder but the metrics, the log and the corpus cache: the
    /// checkpoints, and of the store the journal's and snapshots' rows (not the leases, which every
    /// run takes and gives back).
    /// </summary>
    private static string Fingerprint(string folder) => string.Join('\n', Directory
        .GetFiles(folder, "*", SearchOption.AllDirectories)
        .Where(f => !f.EndsWith(".jsonl") && !f.Contains("corpus") && !f.Contains("logs") && !f.EndsWith("-journal") && !f.EndsWith("-wal") && !f.EndsWith("-shm") && !f.EndsWith(".leases.db"))
        .Order(StringComparer.Ordinal)
        .Select(f => $"{Path.GetRelativePath(folder, f)} {Convert.ToHexString(SHA256.HashData(f.EndsWith(".db") ? JournalRows(f) : File.ReadAllBytes(f)))}"));

    private static byte[] JournalRows(string database)
    {
        using var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={database};Mode=ReadOnly;Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = """
            SELECT persistence_id || ':' || sequence_number || ':' || hex(message) FROM journal
            UNION ALL SELECT persistence_id || ':' || sequence_number || ':' || hex(snapshot) FROM snapshot
            ORDER BY 1
            """;
        using var reader = command.ExecuteReader();
        var rows = new System.Text.StringBuilder();
        while (reader.Read()) rows.AppendLine(reader.GetString(0));
        return System.Text.Encoding.UTF8.GetBytes(rows.ToString());
    }
}
