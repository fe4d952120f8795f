using System.CommandLine;
using ElasticTrain.Cli.Hosting;

namespace ElasticTrain.Cli.Commands;

/// <summary>
/// <c>elastictrain node --join HOST:PORT</c>: a node that joins a running job's cluster, learns the
/// job from its coordinator, hosts ranks (admitted at the next step boundary) and can take over the
/// coordinator if its node dies. Exits 0 when the job completes.
/// </summary>
public static class NodeCommand
{
    public static Command Create(TextWriter error)
    {
        var flags = HoconFlags.ForNode()
            .Add<string>("--join", "elastictrain.join", "HOST:PORT of any node of the job's cluster")
            .Add<string>("--data", "elastictrain.job.data", "This machine's copy of the job's data, if at another path");
        var command = new Command("node", "Join a running job with this machine's ranks");
        flags.AddTo(command);
        NodeRun.AddCommonOptions(command);
        command.SetAction((parse, cancellation) => NodeRun.RunAsync(parse, flags, error, NodeHost.JoinAsync, servesHttpByDefault: false, cancellation));
        return command;
    }
}
