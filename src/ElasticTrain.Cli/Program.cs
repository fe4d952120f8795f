using System.CommandLine;
using ElasticTrain.Checkpointing;
using ElasticTrain.Cli.Commands;
using ElasticTrain.Configuration;
using ElasticTrain.Data;

// elastictrain: the command-line entry point. Bad input of any kind ends here as one line on
// stderr and a non-zero exit code (2), never a stack trace.
var root = new RootCommand("ElasticTrain: elastic data-parallel training on an Akka.NET cluster")
{
    TrainCommand.Create(),
};

var parse = root.Parse(args);
if (parse.Errors.Count > 0)
{
    Console.Error.WriteLine($"error: {parse.Errors[0].Message}");
    return 2;
}
try
{
    // Our own handler below turns known input errors into one line; anything else is a bug and keeps its trace.
    return await parse.InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
}
catch (Exception e) when (e is SettingsException or DataException or CheckpointException)
{
    Console.Error.WriteLine($"error: {e.Message}");
    return 2;
}
