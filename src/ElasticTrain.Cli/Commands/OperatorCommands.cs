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

    /// <summary>What check-config verifies of an operator command: the cluster's config file (with the strict key check) and the --join address.</summary>
    private static string CheckCluster(ParseResult parse)
    {
        ClusterConfig(parse);
        if (parse.GetValue(ConfigFile) is { Length: > 0 } file)
            UnknownKeys.Refuse(HoconFiles.Load(file), NodeConfig.Defaults(), "elastictrain", $"config file '{file}'");
        var join = parse.GetValue(Join)!;
        if (!HostPort.TryParse(join, out _, out _)) throw new SettingsException($"--join must be HOST:PORT, not '{join}'");
        return $"through the cluster at {join}";
    }

    public static IEnumerable<Command> Create(TextWriter output, TextWriter error)
    {
        var status = new CheckedCommand("status", "Show a running job: step, generation, world, members, throughput",
            parse => $"status {CheckCluster(parse)}") { Join, ConfigFile };
        status.SetAction(async (parse, cancellation) =>
        {
            var report = await OperatorClient.AskAsync<JobStatusReport>(parse.GetValue(Join)!, GetStatus.Instance, ClusterConfig(parse), cancellation);
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"job {report.JobId}: step {report.CommittedStep}/{report.TotalSteps}, generation {report.Generation}, world {report.Members.Length}{(report.Mesh.Length > 0 ? $" as {report.Mesh} (replicas x stages)" : "")}, {report.SamplesPerSecond:0.0} samples/s"));
            foreach (var member in report.Members)
                output.WriteLine(report.LoadOf(member) is { } load
                    ? string.Create(CultureInfo.InvariantCulture, $"  rank {member}: slice {load.Slice}, {load.SamplesPerSecond:0.0} samples/s")
                    : $"  rank {member}");
            foreach (var idle in report.Idle) output.WriteLine($"  idle {idle}");
            foreach (var draining in report.Draining) output.WriteLine($"  draining {draining}");
            if (report.TargetRanks > 0) output.WriteLine($"  scale target: {report.TargetRanks} ranks");
            foreach (var shard in report.Shards ?? [])
                output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  {(shard.Replica.Backup ? "backup" : "shard")} {shard.Replica.Index} ({shard.Replica.EntityId}): {shard.Bytes / 1024.0:0.0} KiB on {shard.Node}, {shard.UpdatesPerSecond:0.0} updates/s"));
            return 0;
        });

        var node = new Option<string>("--node") { Description = "HOST:PORT of the node to drain", Required = true };
        NodeAddress Drained(ParseResult parse)
        {
            var address = parse.GetValue(node)!;
            if (!HostPort.TryParse(address, out var host, out var port)) throw new SettingsException($"--node must be HOST:PORT, not '{address}'");
            return new NodeAddress(host, port);
        }
        var drain = new CheckedCommand("drain", "Move work off a node at the next step boundary and let it leave",
            parse => $"drain node {Drained(parse).Host}:{Drained(parse).Port} {CheckCluster(parse)}") { Join, node, ConfigFile };
        drain.SetAction((parse, cancellation) => Send(parse, new DrainNode(Drained(parse)), output, error, cancellation));

        var ranks = new Option<int>("--ranks") { Description = "How many ranks the job uses (0: all)", Required = true };
        int Target(ParseResult parse) =>
            parse.GetValue(ranks) is >= 0 and var target ? target : throw new SettingsException("--ranks must be 0 (all) or more");
        var scale = new CheckedCommand("scale", "Set how many ranks the job uses, from the next step boundary",
            parse => $"scale to {Target(parse)} rank(s) {CheckCluster(parse)}") { Join, ranks, ConfigFile };
        scale.SetAction((parse, cancellation) => Send(parse, new ScaleRanks(Target(parse)), output, error, cancellation));
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
