using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace ElasticTrain.Tests.Processes;

/// <summary>
/// TLS on the cluster's own connections (Akka.Remote over DotNetty), as docs/ARCHITECTURE.md tells
/// an operator to turn it on: a job runs on two nodes that share the settings, an operator command
/// with the same settings reaches it, and one without them cannot.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class ClusterTlsTests(ReferenceRun reference)
{
    [Fact]
    public async Task A_job_runs_over_tls_and_a_client_without_it_cannot_join()
    {
        using var job = new ClusterJob(steps: 2400); // still running when the worker and the operator arrive
        Directory.CreateDirectory(job.Folder);
        var config = Path.Combine(job.Folder, "tls.conf");
        File.WriteAllText(config, TlsConfig(job.Folder));
        job.Extra = ["--config", config];
        var port = ClusterJob.FreePort();
        using var train = job.StartTrain(reference.Data, port, ranks: 1);
        await job.WaitFor(j => j.LastStep() >= 10, "10 steps on one rank", train);
        using var node = job.StartNode(port, ranks: 1, "worker");
        await job.WaitFor(j => j.Records("step").Any(r => r.GetProperty("world").GetInt32() == 2), "the worker's rank", train, node);

        using (var status = ElasticTrainProcess.Start("status", "--join", $"127.0.0.1:{port}", "--config", config))
        {
            Assert.True(await status.WaitAsync(TimeSpan.FromSeconds(60)) == 0, status.Output);
            Assert.Contains("world 2", status.Output);
        }
        using (var plain = ElasticTrainProcess.Start("status", "--join", $"127.0.0.1:{port}"))
        {
            Assert.Equal(2, await plain.WaitAsync(TimeSpan.FromSeconds(60)));
            Assert.Contains($"error: cannot reach the cluster at 127.0.0.1:{port}", plain.Output);
        }

        Assert.True(await train.WaitAsync(TimeSpan.FromMinutes(3)) == 0, train.Output);
        Assert.True(await node.WaitAsync(TimeSpan.FromMinutes(1)) == 0, node.Output);
        reference.AssertSameCurve(job);
    }

    /// <summary>
    /// One self-signed certificate shared by the nodes, so validation is suppressed here; with
    /// certificates from a CA the machines trust, leave it on (see the docs).
    /// </summary>
    private static string TlsConfig(string folder)
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=elastictrain-test", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        var path = Path.Combine(folder, "cluster.pfx");
        File.WriteAllBytes(path, certificate.Export(X509ContentType.Pfx, "test-password"));
        return $$"""
            akka.remote.dot-netty.tcp {
              enable-ssl = on
              ssl {
                suppress-validation = on
                certificate { path = "{{path}}", password = "test-password" }
              }
            }
            """;
    }
}
