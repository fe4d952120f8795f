using System.Reflection;
using ElasticTrain.Cli.Hosting;
using ElasticTrain.Configuration;
using ElasticTrain.Coordination;
using ElasticTrain.Jobs;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace ElasticTrain.Cli.WebConsole;

/// <summary>
/// The console's routes: the page and its two assets (embedded in the assembly: no build step, no
/// CDN), a snapshot, the live event stream, and the operator's scale and drain. Reading is open;
/// scale and drain need the job's operator token as a bearer token.
/// </summary>
public static class ConsoleRoutes
{
    private static readonly TimeSpan CommandPatience = TimeSpan.FromSeconds(5);

    public sealed record ScaleRequest(int Ranks);

    public sealed record DrainRequest(string Node);

    public static void MapConsole(this WebApplication app, LiveNode live)
    {
        app.MapGet("/", () => Asset("console.html", "text/html; charset=utf-8"));
        app.MapGet("/console.js", () => Asset("console.js", "text/javascript; charset=utf-8"));
        app.MapGet("/console.css", () => Asset("console.css", "text/css; charset=utf-8"));
        app.MapGet("/api/snapshot", async () => Results.Text(ConsoleHub.ToJson(await live.Hub.SnapshotAsync()), "application/json"));
        // A stream ends when its browser leaves or the server stops: Kestrel would otherwise wait
        // for open streams for its whole shutdown timeout (30 s) before the process could exit.
        var stopping = app.Lifetime.ApplicationStopping;
        app.MapGet("/api/events", async (HttpContext http) =>
        {
            http.Response.ContentType = "text/event-stream";
            http.Response.Headers.CacheControl = "no-cache";
            using var ends = CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted, stopping);
            try
            {
                await foreach (var text in live.Hub.WatchAsync(ends.Token))
                {
                    await http.Response.WriteAsync(text, ends.Token);
                    await http.Response.Body.FlushAsync(ends.Token);
                }
            }
            catch (OperationCanceledException) when (ends.IsCancellationRequested) { }
        });
        app.MapPost("/api/scale", (HttpContext http, ScaleRequest request) => request.Ranks < 0
            ? Task.FromResult(Results.BadRequest(new OperatorReply(false, "ranks must be 0 (all) or more")))
            : Operate(http, live, new ScaleRanks(request.Ranks)));
        app.MapPost("/api/drain", (HttpContext http, DrainRequest request) => HostPort.TryParse(request.Node ?? "", out var host, out var port)
            ? Operate(http, live, new DrainNode(new NodeAddress(host, port)))
            : Task.FromResult(Results.BadRequest(new OperatorReply(false, $"node must be HOST:PORT, not '{request.Node}'"))));
    }

    private static async Task<IResult> Operate(HttpContext http, LiveNode live, object command)
    {
        var header = http.Request.Headers.Authorization.ToString();
        var token = header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? header["Bearer ".Length..].Trim() : "";
        if (token.Length == 0)
            return Results.Json(new OperatorReply(false, "read-only: give the operator token to scale or drain"), statusCode: StatusCodes.Status401Unauthorized);
        bool? allowed;
        try { allowed = await live.AuthorizesAsync(token); }
        catch (SettingsException e) { return Results.Json(new OperatorReply(false, e.Message), statusCode: StatusCodes.Status503ServiceUnavailable); }
        if (allowed is null)
            return Results.Json(new OperatorReply(false, "this node is not in the job's cluster right now; try again"), statusCode: StatusCodes.Status503ServiceUnavailable);
        if (allowed == false)
            return Results.Json(new OperatorReply(false, "refused: that is not the job's operator token"), statusCode: StatusCodes.Status403Forbidden);
        var reply = await live.CommandAsync(command, CommandPatience);
        return Results.Json(reply, statusCode: reply.Accepted ? StatusCodes.Status200OK : StatusCodes.Status409Conflict);
    }

    private static IResult Asset(string name, string contentType)
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream("elastictrain.console." + name)
            ?? throw new InvalidOperationException($"the console's {name} is not embedded");
        using var reader = new StreamReader(stream);
        return Results.Text(reader.ReadToEnd(), contentType);
    }
}
