using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using ElasticTrain.Cli;

namespace ElasticTrain.Tests.Hosting;

/// <summary>`elastictrain node --discovery config` in this process, over the tiny corpus.</summary>
public class DiscoveredStartTests : IDisposable
{
    private readonly string _folder = Path.Combine(Path.GetTempPath(), "et-discovery-" + Guid.NewGuid().ToString("N"));

    public DiscoveredStartTests() => Directory.CreateDirectory(_folder);

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>A node's config as every machine of a job would have it: the job, and the contact points.</summary>
    private string JobConfig(params string[] endpoints)
    {
        var path = Path.Combine(_folder, "job.conf");
        File.WriteAllText(path, $$"""
            elastictrain {
              job { id = discovered, model = mlp, width = 16, block = 16, global-batch = 4, steps = 4, checkpoint-every = 2 }
              job.data = {{JsonSerializer.Serialize(TinyCorpus.Path_)}}
              ranks = 1
              discovery { retry-interval = 200ms, timeout = 3s }
            }
            akka.discovery.config.services.elastictrain.endpoints = {{JsonSerializer.Serialize(endpoints)}}
            """);
        return path;
    }

    private async Task<(int Code, string Error)> Node(int port, string config)
    {
        var error = new StringWriter();
        var code = await CliApp.RunAsync(["node", "--discovery", "config", "--port", port.ToString(), "--config", config, "--plain",
            "--data-dir", _folder, "--metrics", Path.Combine(_folder, "metrics.jsonl")], error);
        return (code, error.ToString().Trim());
    }

    [Fact]
    public async Task The_lowest_contact_point_finding_no_cluster_forms_one_and_runs_the_job_of_its_config()
    {
        var port = FreePort();
        var (code, error) = await Node(port, JobConfig($"127.0.0.1:{port}", "127.0.0.2:65000"));
        Assert.Equal((0, ""), (code, error));
        var types = File.ReadLines(Path.Combine(_folder, "metrics.jsonl")).Select(l => JsonDocument.Parse(l).RootElement.GetProperty("type").GetString()).ToList();
        Assert.Equal("start", types[0]);
        Assert.Equal(4, types.Count(t => t == "step"));
        Assert.Equal("finish", types[^1]);
    }

    [Fact]
    public async Task A_node_that_is_not_the_lowest_waits_for_the_founder_and_gives_up_after_the_timeout_in_one_line()
    {
        var port = FreePort();
        // 127.0.0.1:1 sorts first and nothing listens there.
        var (code, error) = await Node(port, JobConfig("127.0.0.1:1", $"127.0.0.1:{port}"));
        Assert.Equal((1, "error: found no cluster to join and formed none within 3 s: waiting for 127.0.0.1:1, the lowest contact point, to form the cluster"), (code, error));
        var metrics = Path.Combine(_folder, "metrics.jsonl");
        Assert.True(!File.Exists(metrics) || new FileInfo(metrics).Length == 0, "a node that never joined wrote records");
    }
}
