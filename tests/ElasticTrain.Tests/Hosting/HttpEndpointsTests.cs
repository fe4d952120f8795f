using System.Net;
using System.Net.Sockets;
using ElasticTrain.Cli.Hosting;
using ElasticTrain.Configuration;
using Prometheus;

namespace ElasticTrain.Tests.Hosting;

/// <summary>The HTTP server alone, without a node: its address, its probes before a node attaches, a taken port.</summary>
public sealed class HttpEndpointsTests
{
    [Fact]
    public async Task Port_0_serves_on_a_free_port_live_at_once_and_not_ready_without_a_node()
    {
        var registry = Metrics.NewCustomRegistry();
        Metrics.WithCustomRegistry(registry).CreateCounter("test_requests_total", "A series to find.").Inc();
        await using var http = await HttpEndpoints.StartAsync("127.0.0.1", 0, registry, new LiveNode());
        using var client = new HttpClient { BaseAddress = new Uri(http.Address) };

        Assert.NotEqual(0, new Uri(http.Address).Port);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/health/live")).StatusCode);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await client.GetAsync("/health/ready")).StatusCode);
        var metrics = await client.GetAsync("/metrics");
        Assert.StartsWith("text/plain", metrics.Content.Headers.ContentType?.ToString());
        Assert.Equal(1, PrometheusText.Parse(await metrics.Content.ReadAsStringAsync())["test_requests_total"]);
    }

    [Fact]
    public async Task The_console_page_is_served_from_the_assembly_and_its_commands_need_the_operator_token()
    {
        await using var http = await HttpEndpoints.StartAsync("127.0.0.1", 0, Metrics.NewCustomRegistry(), new LiveNode());
        using var client = new HttpClient { BaseAddress = new Uri(http.Address) };

        var page = await client.GetAsync("/");
        Assert.StartsWith("text/html", page.Content.Headers.ContentType?.ToString());
        Assert.Contains("<script src=\"console.js\">", await page.Content.ReadAsStringAsync());
        Assert.Contains("new EventSource", await client.GetStringAsync("/console.js"));
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/console.css")).StatusCode);
        // No node attached yet: an empty history, no status.
        Assert.Contains("\"steps\":[]", await client.GetStringAsync("/api/snapshot"));

        var scale = () => new StringContent("{\"ranks\":1}", System.Text.Encoding.UTF8, "application/json");
        Assert.Equal(HttpStatusCode.Unauthorized, (await client.PostAsync("/api/scale", scale())).StatusCode);
        using var wrong = new HttpRequestMessage(HttpMethod.Post, "/api/scale") { Content = scale() };
        wrong.Headers.Authorization = new("Bearer", "not-the-token");
        // No node to check the token against yet: try again later, not "wrong token".
        var refused = await client.SendAsync(wrong);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
        Assert.Contains("not in the job's cluster right now", await refused.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task An_open_event_stream_ends_when_the_server_stops_instead_of_holding_the_process()
    {
        var http = await HttpEndpoints.StartAsync("127.0.0.1", 0, Metrics.NewCustomRegistry(), new LiveNode());
        using var client = new HttpClient { BaseAddress = new Uri(http.Address) };
        using var events = await client.GetAsync("/api/events", HttpCompletionOption.ResponseHeadersRead);
        Assert.StartsWith("text/event-stream", events.Content.Headers.ContentType?.ToString());
        using var reader = new StreamReader(await events.Content.ReadAsStreamAsync());
        Assert.Equal("event: snapshot", await reader.ReadLineAsync());

        // Kestrel waits for open requests for its whole shutdown timeout (30 s) unless they end.
        var stopping = System.Diagnostics.Stopwatch.StartNew();
        await http.DisposeAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(20));
        Assert.True(stopping.Elapsed < TimeSpan.FromSeconds(5), $"the server took {stopping.Elapsed.TotalSeconds:0.0} s to stop with a stream open");
    }

    [Fact]
    public async Task A_taken_port_is_a_settings_error_that_names_the_key()
    {
        using var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        var port = ((IPEndPoint)taken.LocalEndpoint).Port;

        var error = await Assert.ThrowsAsync<SettingsException>(() => HttpEndpoints.StartAsync("127.0.0.1", port, Metrics.NewCustomRegistry(), new LiveNode()));
        Assert.StartsWith($"cannot serve http on 127.0.0.1:{port} (elastictrain.http.port): ", error.Message);
    }
}
