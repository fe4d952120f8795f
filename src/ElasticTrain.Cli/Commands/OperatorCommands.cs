using System.CommandLine;
using System.Globalization;
using ElasticTrain.Cli.Hosting;
using ElasticTrain.Configuration;
using ElasticTrain.Coordination;
using ElasticTrain.Jobs;

namespace ElasticTrain.Cli.Commands;

/// <summary>
/// <c>status</c>, <c>drain</c> and <c>scale</c>: what an operator does to a running job, through
/// any node of its cluster (<c>--join HOST:PORT</c>).
/// </summary>
public static class OperatorCommands
{
    private static readonly Option<string> Join = new("--join") { Description = "HOST:PORT of any node of the job's cluster", Required = true };

    /// <summary>The cluster's own settings where they differ from the defaults, e.g. TLS (docs/ARCHITECTURE.md).</summary>
    private static readonly Option<string> ConfigFile = new("--config") { Description = "HOCON file with the cluster's settings, e.g. its TLS" };

    private static Akka.Configuration.Config ClusterConfig(ParseResult parse) =>
        parse.GetValue(ConfigFile) is { Length: > 0 } file ? HoconFiles.Load(file).WithFallback(NodeConfig.Defaults()) : NodeConfig.Defaults();

    public static IEnumerable<Command> Create(TextWriter output, TextWriter error)
    {
        var status = new Command("status", "Show a running job: step, generation, world, members, throughput") { Join, ConfigFile };
        status.SetAction(async (parse, cancellation) =>
        {
            var report = await OperatorClient.AskAsync<JobStatusReport>(parse.GetValue(Join)!, GetStatus.Instance, ClusterConfig(parse), cancellation);
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"job {report.JobId}: step {report.CommittedStep}/{report.TotalSteps}, generation {report.Generation}, world {report.Members.Length}{(report.Mesh.Length > 0 ? $" as {report.Mesh} (replicas x stages)" : "")}, {report.SamplesPerSecond:0.0} samples/s"));
            var loads = (report.Loads ?? []).ToDictionary(l => l.Rank);
            foreach (var member in report.Members)
                output.WriteLine(loads.TryGetValue(member, out var load)
                    ? string.Create(CultureInfo.InvariantCulture, $"  rank {member}: slice {load.Slice}, {load.SamplesPerSecond:0.0} samples/s")
                    : $"  rank {member}");
            foreach (var idle in report.Idle) output.WriteLine($"  idle {idle}");
            foreach (var draining in report.Draining) output.WriteLine($"  draining {draining}");
            if (report.TargetRanks > 0) output.WriteLine($"  scale target: {report.TargetRanks} ranks");
            return 0;
        });

        var node = new Option<string>("--node") { Description = "HOST:PORT of the node to drain", Required = true };
        var drain = new Command("drain", "Move work off a node at the next step boundary and let it leave") { Join, node, ConfigFile };
        drain.SetAction((parse, cancellation) =>
        {
            var address = parse.GetValue(node)!;
            if (!HostPort.TryParse(address, out var host, out var port)) throw new SettingsException($"--node must be HOST:PORT, not '{address}'");
            return Send(parse, new DrainNode(new NodeAddress(host, port)), output, error, cancellation);
        });

        var ranks = new Option<int>("--ranks") { Description = "How many ranks the job uses (0: all)", Required = true };
        var scale = new Command("scale", "Set how many ranks the job uses, from the next step boundary") { Join, ranks, ConfigFile };
        scale.SetAction((parse, cancellation) =>
        {
            if (parse.GetValue(ranks) < 0) throw new SettingsException("--ranks must be 0 (all) or more");
            return Send(parse, new ScaleRanks(parse.GetValue(ranks)), output, error, cancellation);
        });
        return [status, drain, scale];
    }

    private static async Task<int> Send(ParseResult parse, object command, TextWriter output, TextWriter error, CancellationToken cancellation)
    {
        var reply = await OperatorClient.AskAsync<OperatorReply>(parse.GetValue(Join)!, command, ClusterConfig(parse), cancellation);
        if (reply.Accepted) { output.WriteLine(reply.Message); return 0; }
        error.WriteLine($"error: {reply.Message}");
        return 2;
    }
}
