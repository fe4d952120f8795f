using System.CommandLine;
using ElasticTrain.Cli.Hosting;

namespace ElasticTrain.Cli.Commands;

/// <summary>
/// <c>elastictrain node --join HOST:PORT</c>: a node that joins a running job's cluster, learns the
/// job from its coordinator, hosts ranks (admitted at the next step boundary) and can take over the
/// coordinator if its node dies. Exits 0 when the job completes. With <c>--discovery</c> instead of
/// --join it finds the cluster itself, or forms it and starts the job of its config
/// (<see cref="DiscoveredStart"/>): the one command of every pod.
/// </summary>
public static class NodeCommand
{
    public static Command Create(TextWriter error)
    {
        var flags = HoconFlags.ForNode()
            .Add<string>("--join", "elastictrain.join", "HOST:PORT of any node of the job's cluster")
            .Add<string>("--discovery", "elastictrain.discovery.method", "Find the cluster without --join: config or kubernetes (default off)")
            .Add<string>("--data", "elastictrain.job.data", "This machine's copy of the job's data, if at another path");
        var command = new CheckedCommand("node", "Join a running job with this machine's ranks", parse =>
        {
            var (settings, config) = NodeConfigCheck.Read(parse, flags);
            return $"{NodeStart.Describe(settings, NodeStart.Check(settings, config))}; {NodeConfigCheck.Describe(settings, servesHttpByDefault: false)}";
        });
        flags.AddTo(command);
        NodeRun.AddCommonOptions(command);
        command.SetAction((parse, cancellation) => NodeRun.RunAsync(parse, flags, error, NodeStart.RunAsync, servesHttpByDefault: false, cancellation));
        return command;
    }
}
