using System.CommandLine;
using ElasticTrain.Checkpointing;
using ElasticTrain.Cli.Commands;
using ElasticTrain.Cli.Reporting;
using ElasticTrain.Configuration;
using ElasticTrain.Data;

namespace ElasticTrain.Cli;

/// <summary>
/// The command line: parses, dispatches, and turns any bad input into one line on the error writer
/// and exit code 2, never a stack trace.
/// </summary>
public static class CliApp
{
    /// <param name="output">Where commands that answer with text write it; null: the console.</param>
    public static async Task<int> RunAsync(string[] args, TextWriter error, CancellationToken cancellation = default, TextWriter? output = null)
    {
        output ??= Console.Out;
        var parse = Commands(output, error).Parse(args);
        if (parse.Errors.Count > 0)
        {
            error.WriteLine($"error: {parse.Errors[0].Message}");
            return 2;
        }
        try
        {
            // Known input errors are handled below; anything else is a bug and keeps its trace.
            return await parse.InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false }, cancellation);
        }
        catch (Exception e) when (e is SettingsException or DataException or CheckpointException or MetricsFileException)
        {
            error.WriteLine($"error: {e.Message}");
            return 2;
        }
        catch (OperationCanceledException e) when (cancellation.IsCancellationRequested || e.CancellationToken.IsCancellationRequested)
        {
            // Ctrl+C or SIGTERM (a pod being deleted) before a command had its own answer for it,
            // e.g. while a starting node still talks to the store. Timeouts are turned into their
            // own errors where they happen, so a cancelled wait that gets here was an interruption.
            error.WriteLine("error: interrupted");
            return 130;
        }
    }

    private static RootCommand Commands(TextWriter output, TextWriter error)
    {
        var root = new RootCommand("ElasticTrain: elastic data-parallel training on an Akka.NET cluster")
        {
            TrainCommand.Create(error),
            NodeCommand.Create(error),
            BenchCommand.Create(error),
            PlotCommand.Create(output, error),
            EvalCommand.Create(output),
            TokenCommand.Create(output),
            CheckConfigCommand.Create(() => Commands(output, error), output, error),
        };
        foreach (var command in OperatorCommands.Create(output, error)) root.Subcommands.Add(command);
        return root;
    }
}
