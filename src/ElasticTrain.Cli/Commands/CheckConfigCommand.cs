using System.CommandLine;

namespace ElasticTrain.Cli.Commands;

/// <summary>
/// <c>elastictrain check-config COMMAND [flags...]</c>: parses a command line with the real
/// commands' definitions and reads its flags and HOCON as that command would, then says
/// <c>ok: ...</c> or gives one error line (exit 2). It starts nothing and touches no store, data or
/// network, so deploy files can be checked where they cannot run (tests/.../DeployFilesTests.cs).
/// It is stricter than the command in one way: a key under <c>elastictrain</c> in the config file
/// that no default defines (a typo, or a renamed key) is an error here.
/// </summary>
public static class CheckConfigCommand
{
    /// <param name="commands">A fresh tree of the CLI's commands, to parse the checked command line with.</param>
    public static Command Create(Func<RootCommand> commands, TextWriter output, TextWriter error)
    {
        var commandLine = new Argument<string[]>("command-line")
        {
            Description = "The command and its flags, as they would be run (e.g. node --discovery config --config job.conf)",
            Arity = ArgumentArity.OneOrMore,
        };
        // The checked command's flags are not check-config's own: they are arguments here.
        var command = new Command("check-config", "Validate a command line's flags and HOCON without running it") { commandLine };
        command.TreatUnmatchedTokensAsErrors = false;
        command.SetAction(parse =>
        {
            var target = commands().Parse(parse.GetValue(commandLine)!);
            if (target.Errors.Count > 0)
            {
                error.WriteLine($"error: {target.Errors[0].Message}");
                return 2;
            }
            if (target.CommandResult.Command is not CheckedCommand checkedCommand)
            {
                error.WriteLine($"error: check-config checks train, node, eval, status, drain and scale, not '{target.CommandResult.Command.Name}'");
                return 2;
            }
            output.WriteLine($"ok: {checkedCommand.Check(target)}");
            return 0;
        });
        return command;
    }
}
