using System.CommandLine;

namespace ElasticTrain.Cli.Commands;

/// <summary>
/// A command that `check-config` can vouch for: <see cref="Check"/> reads its flags and config as
/// its action would, through the same code, and stops before anything starts.
/// </summary>
/// <param name="check">Returns a one-line summary of what the command would run; throws <see cref="ElasticTrain.Configuration.SettingsException"/> on bad input.</param>
public sealed class CheckedCommand(string name, string description, Func<ParseResult, string> check) : Command(name, description)
{
    public Func<ParseResult, string> Check { get; } = check;
}
