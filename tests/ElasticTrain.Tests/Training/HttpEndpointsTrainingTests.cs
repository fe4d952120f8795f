using System.Net;
using System.Net.Sockets;

namespace ElasticTrain.Tests.Training;

/// <summary>A real training run with --http-port: Prometheus sees it progress and the readiness probe turns ready.</summary>
public sealed class HttpEndpointsTrainingTests
{
    [Fact]
    public async Task A_training_node_serves_a_growing_step_counter_and_turns_ready()
    {
        using var run = new TrainRun();
        var port = FreePort();
        // Far more steps than the test waits for: it interrupts the run once it has seen enough.
        string[] job = ["--model", "mlp", "--width", "16", "--block", "16", "--global-batch", "4", "--steps", "1000000",
            "--checkpoint-every", "1000000", "--ranks", "1", "--http-port", port.ToString()];
        using var stop = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        var training = run.RunAsync(job, stop.Token);
        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(5) };

        await Until(training, async () => await Status(client, "/health/ready") == HttpStatusCode.OK);
        var first = await CommittedSteps(client);
        await Until(training, async () => await CommittedSteps(client) > first);
        Assert.Equal(HttpStatusCode.OK, await Status(client, "/health/live"));

        stop.Cancel();
        Assert.Equal(130, (await training).ExitCode);
    }

    /// <summary>A port that was free a moment ago: `train` prints the one it chose for 0, but in this process that line goes to the shared console.</summary>
    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static async Task<HttpStatusCode?> Status(HttpClient client, string path)
    {
        try { return (await client.GetAsync(path)).StatusCode; }
        catch (HttpRequestException) { return null; } // not serving yet
    }

    private static async Task<double> CommittedSteps(HttpClient client) =>
        PrometheusText.Parse(await client.GetStringAsync("/metrics"))["elastictrain_steps_committed_total"];

    /// <summary>Polls until the condition holds; fails at once if the run ended first.</summary>
    private static async Task Until(Task<(int ExitCode, string Error)> training, Func<Task<bool>> condition)
    {
        while (!await condition())
        {
            if (training.IsCompleted) Assert.Fail($"the run ended first: exit {training.Result.ExitCode} {training.Result.Error}");
            await Task.Delay(50);
        }
    }
}
