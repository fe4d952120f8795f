using System.Security.Cryptography;
using System.Text;
using ElasticTrain.Cli.Hosting;
using ElasticTrain.Configuration;

namespace ElasticTrain.Cli.Store;

/// <summary>
/// The job's operator token: what the web console asks for before it scales or drains. The store
/// keeps only its SHA-256, per job id, so every node (and the node that serves the page after a
/// failover) can check a token, and reading the store does not give it away. A generated token has
/// 128 random bits, so a plain hash is enough; no key stretching is needed against guessing.
/// </summary>
public static class OperatorToken
{
    private const string Table = "elastictrain_operator_tokens";
    private const int RandomBytes = 16;
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    private const string CreateSql = $"CREATE TABLE IF NOT EXISTS {Table} (job TEXT PRIMARY KEY, hash TEXT NOT NULL)";

    // The no-op update makes a row already there come back through RETURNING (DO NOTHING returns none).
    private const string GetOrCreateSql = $"""
        INSERT INTO {Table} (job, hash) VALUES (@job, @hash)
        ON CONFLICT (job) DO UPDATE SET hash = {Table}.hash
        RETURNING hash
        """;

    private const string ReplaceSql = $"""
        INSERT INTO {Table} (job, hash) VALUES (@job, @hash)
        ON CONFLICT (job) DO UPDATE SET hash = excluded.hash
        """;

    private const string ReadSql = $"SELECT hash FROM {Table} WHERE job = @job";

    /// <summary>
    /// Makes sure the job has a token. With none in the store, it keeps <paramref name="given"/>, or
    /// a new random one, and returns the new one so that it can be shown once. With one in the store,
    /// a given token must be it.
    /// </summary>
    /// <returns>The token generated now; null when the store had one, or when the operator gave it.</returns>
    /// <exception cref="SettingsException">The given token is not the job's, or the store cannot say.</exception>
    public static async Task<string?> EnsureAsync(JournalStore store, string jobId, string given, CancellationToken cancellation = default)
    {
        var token = given.Length > 0 ? given : NewToken();
        var hash = Hash(token);
        var kept = await StoreTable.RunAsync(store, CreateSql, "the operator token", Timeout, async (connection, ct) =>
        {
            await using var command = StoreTable.Command(connection, Timeout, GetOrCreateSql, ("job", jobId), ("hash", hash));
            return await command.ExecuteScalarAsync(ct) as string ?? throw new InvalidDataException("the store returned no token hash");
        }, cancellation);
        if (kept == hash) return given.Length > 0 ? null : token;
        if (given.Length > 0)
            throw new SettingsException($"elastictrain.http.token is not job '{jobId}''s operator token; give the job's, or make this one the job's with `elastictrain token --job {jobId} --token ...`");
        return null;
    }

    /// <summary>Replaces the job's token with <paramref name="given"/>, or a new random one when it is empty, and returns it.</summary>
    public static async Task<string> RotateAsync(JournalStore store, string jobId, string given = "", CancellationToken cancellation = default)
    {
        var token = given.Length > 0 ? given : NewToken();
        await StoreTable.RunAsync(store, CreateSql, "the operator token", Timeout, async (connection, ct) =>
        {
            await using var command = StoreTable.Command(connection, Timeout, ReplaceSql, ("job", jobId), ("hash", Hash(token)));
            return await command.ExecuteNonQueryAsync(ct);
        }, cancellation);
        return token;
    }

    /// <summary>Whether <paramref name="token"/> is the job's; false when the job has none.</summary>
    public static async Task<bool> MatchesAsync(JournalStore store, string jobId, string token, CancellationToken cancellation = default) =>
        Matches(await ReadHashAsync(store, jobId, cancellation), token);

    /// <summary>The hash the store keeps for the job; "" when it has none.</summary>
    public static Task<string> ReadHashAsync(JournalStore store, string jobId, CancellationToken cancellation = default) =>
        StoreTable.RunAsync(store, CreateSql, "the operator token", Timeout, async (connection, ct) =>
        {
            await using var command = StoreTable.Command(connection, Timeout, ReadSql, ("job", jobId));
            return await command.ExecuteScalarAsync(ct) as string ?? "";
        }, cancellation);

    /// <summary>Whether <paramref name="token"/> hashes to <paramref name="kept"/> (compared in fixed time); false for none.</summary>
    public static bool Matches(string kept, string token) =>
        kept.Length > 0 && token.Length > 0 && CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(kept), Encoding.ASCII.GetBytes(Hash(token)));

    private static string NewToken() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(RandomBytes));

    private static string Hash(string token) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(token)));
}
