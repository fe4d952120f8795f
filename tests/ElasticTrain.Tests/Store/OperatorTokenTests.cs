using ElasticTrain.Cli.Hosting;
using ElasticTrain.Cli.Store;
using ElasticTrain.Configuration;
using ElasticTrain.Tests.Support;
using Microsoft.Data.Sqlite;

namespace ElasticTrain.Tests.Store;

/// <summary>The job's operator token: made once and shown once, checked by its hash, replaced by `token` (SQLite; PostgreSQL when ELASTICTRAIN_TEST_POSTGRES names one).</summary>
public sealed class OperatorTokenTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("elastictrain-token-").FullName;

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_folder, recursive: true);
    }

    [Fact]
    public Task The_token_lifecycle_on_SQLite() => Lifecycle(JournalStore.Resolve(Path.Combine(_folder, "store.db"), _folder), "main");

    [SkippableFact]
    public Task The_token_lifecycle_on_PostgreSQL() => Lifecycle(JournalStore.Resolve(TestPostgres.ConnectionString(), _folder), $"job-{Guid.NewGuid():N}");

    [Fact]
    public async Task The_token_command_replaces_the_token_and_prints_the_new_one()
    {
        var store = JournalStore.Resolve("", _folder);
        var made = await OperatorToken.EnsureAsync(store, "main", given: "");
        var output = new StringWriter();
        var error = new StringWriter();

        Assert.Equal(0, await ElasticTrain.Cli.CliApp.RunAsync(["token", "--job", "main", "--data-dir", _folder], error, output: output));

        var printed = System.Text.RegularExpressions.Regex.Match(output.ToString(), "^operator token of job main: ([0-9a-f]{32})$", System.Text.RegularExpressions.RegexOptions.Multiline);
        Assert.True(printed.Success, output.ToString() + error);
        Assert.True(await OperatorToken.MatchesAsync(store, "main", printed.Groups[1].Value));
        Assert.False(await OperatorToken.MatchesAsync(store, "main", made!));

        // A given token (a Kubernetes Secret's) becomes the job's.
        Assert.Equal(0, await ElasticTrain.Cli.CliApp.RunAsync(["token", "--job", "main", "--data-dir", _folder, "--token", "from-the-secret"], error, output: output));
        Assert.EndsWith("operator token of job main: from-the-secret", output.ToString().TrimEnd());
        Assert.True(await OperatorToken.MatchesAsync(store, "main", "from-the-secret"));
    }

    private static async Task Lifecycle(JournalStore store, string job)
    {
        Assert.False(await OperatorToken.MatchesAsync(store, job, "anything"));

        // The first node makes it and shows it; later nodes are told nothing.
        var made = await OperatorToken.EnsureAsync(store, job, given: "");
        Assert.Matches("^[0-9a-f]{32}$", made);
        Assert.Null(await OperatorToken.EnsureAsync(store, job, given: ""));
        Assert.True(await OperatorToken.MatchesAsync(store, job, made!));
        Assert.False(await OperatorToken.MatchesAsync(store, job, made![..^1] + (made[^1] == '0' ? '1' : '0')));
        Assert.False(await OperatorToken.MatchesAsync(store, job, ""));

        // A token given to a node must be the job's.
        Assert.Null(await OperatorToken.EnsureAsync(store, job, given: made!));
        var wrong = await Assert.ThrowsAsync<SettingsException>(() => OperatorToken.EnsureAsync(store, job, given: "not-the-token"));
        Assert.Contains("elastictrain.http.token is not job", wrong.Message);

        // A rotation replaces it on every node at once; other jobs keep theirs.
        var other = await OperatorToken.EnsureAsync(store, job + "-other", given: "the other job's token");
        Assert.Null(other);
        var rotated = await OperatorToken.RotateAsync(store, job);
        Assert.NotEqual(made, rotated);
        Assert.False(await OperatorToken.MatchesAsync(store, job, made!));
        Assert.True(await OperatorToken.MatchesAsync(store, job, rotated));
        Assert.True(await OperatorToken.MatchesAsync(store, job + "-other", "the other job's token"));
    }
}
