using System.Net;
using System.Net.Sockets;
using ElasticTrain.Cli.WebConsole;
using ElasticTrain.Configuration;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Prometheus;

namespace ElasticTrain.Cli.Hosting;

/// <summary>
/// The process's one HTTP server (Kestrel, minimal APIs): the web console (<see cref="ConsoleRoutes"/>),
/// <c>/metrics</c> in Prometheus text from the server's own registry, <c>/health/live</c> (200 while the process runs) and
/// <c>/health/ready</c> (200 when <see cref="LiveNode"/> says so, 503 otherwise), for
/// Kubernetes probes. It outlives the node's actor system, so a node that rejoins the cluster keeps
/// its address.
/// </summary>
public sealed class HttpEndpoints : IAsyncDisposable
{
    /// <summary>How long a readiness probe waits for the coordinator; Kubernetes' default probe timeout is 1 s.</summary>
    private static readonly TimeSpan ReadyPatience = TimeSpan.FromMilliseconds(800);

    private readonly WebApplication _app;

    /// <summary>Where it serves, with the port the OS chose when 0 was asked for: <c>http://HOST:PORT</c>.</summary>
    public string Address { get; }

    private HttpEndpoints(WebApplication app, string address)
    {
        _app = app;
        Address = address;
    }

    /// <exception cref="SettingsException">The address cannot be bound (a taken port, a host not of this machine).</exception>
    public static async Task<HttpEndpoints> StartAsync(string host, int port, CollectorRegistry registry, LiveNode live)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [], ContentRootPath = AppContext.BaseDirectory });
        // The console belongs to the progress bar and the error line; Kestrel's startup lines would tear them.
        builder.Logging.ClearProviders();
        // The default lifetime takes SIGINT and SIGTERM for itself; the CLI already stops on them.
        builder.Services.AddSingleton<IHostLifetime, ProcessLifetime>();
        builder.WebHost.UseUrls(Url(host, port));
        var app = builder.Build();
        app.MapMetrics("/metrics", registry);
        app.MapGet("/health/live", () => Results.Text("live\n"));
        app.MapConsole(live);
        app.MapGet("/health/ready", async () => await live.IsReadyAsync(ReadyPatience)
            ? Results.Text("ready\n")
            : Results.Text("not ready\n", statusCode: StatusCodes.Status503ServiceUnavailable));
        try
        {
            await app.StartAsync();
        }
        catch (Exception e) when (e is IOException or SocketException)
        {
            await app.DisposeAsync();
            throw new SettingsException($"cannot serve http on {host}:{port} (elastictrain.http.port): {e.Message}");
        }
        // Kestrel reports the bound address, with the chosen port in place of 0.
        return new HttpEndpoints(app, app.Urls.First());
    }

    private static string Url(string host, int port) =>
        IPAddress.TryParse(host, out var ip) && ip.AddressFamily == AddressFamily.InterNetworkV6 ? $"http://[{host}]:{port}" : $"http://{host}:{port}";

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    /// <summary>Starts and stops with the server, and nothing else: no signal handlers, no console lines.</summary>
    private sealed class ProcessLifetime : IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;
        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
