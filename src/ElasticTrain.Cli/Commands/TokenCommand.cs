using System.CommandLine;
using ElasticTrain.Cli.Hosting;
using ElasticTrain.Cli.Store;

namespace ElasticTrain.Cli.Commands;

/// <summary>
/// <c>elastictrain token --job ID [--token T]</c>: gives the job a new operator token (random, or
/// the one given) and prints it, for an operator with access to the job's store. The store keeps only the token's hash, so a lost token
/// cannot be printed again, only replaced; the old one stops working at once on every node.
/// </summary>
public static class TokenCommand
{
    public static Command Create(TextWriter output)
    {
        var flags = new HoconFlags().AddJobStore("The job whose operator token to replace")
            .Add<string>("--token", "elastictrain.http.token", "The new token (e.g. the one in a Kubernetes Secret); default: a new random one");
        var command = new Command("token", "Replace a job's operator token (for scale and drain on the web console) and print the new one");
        flags.AddTo(command);
        command.Options.Add(NodeRun.ConfigFile);
        command.SetAction(async (parse, cancellation) =>
        {
            var settings = HostSettings.FromConfig(NodeConfig.Merge(flags.Overrides(parse), parse.GetValue(NodeRun.ConfigFile)));
            var store = JournalStore.Resolve(settings.Store, settings.DataDirectory);
            store.Probe();
            var token = await OperatorToken.RotateAsync(store, settings.Job.Id, settings.HttpToken, cancellation);
            output.WriteLine($"operator token of job {settings.Job.Id}: {token}");
            return 0;
        });
        return command;
    }
}
