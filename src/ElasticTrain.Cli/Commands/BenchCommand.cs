using ElasticTrain.Cli.Benchmarks;
using System.CommandLine;

namespace ElasticTrain.Cli.Commands;

/// <summary><c>elastictrain bench ...</c>: measurements of the data plane and of training, on this machine.</summary>
public static class BenchCommand
{
    public static Command Create(TextWriter error)
    {
        var bench = new Command("bench", "Measure the gradient exchange and training throughput on this machine");
        foreach (var command in BenchAllReduceCommand.Create(error)) bench.Subcommands.Add(command);
        bench.Subcommands.Add(BenchTrainCommand.Create(error));
        bench.Subcommands.Add(BenchRanksCommand.Create(error));
        bench.Subcommands.Add(BenchPsCommand.Create(error));
        foreach (var command in BenchPipelineCommand.Create(error)) bench.Subcommands.Add(command);
        return bench;
    }

    /// <summary>
    /// Runs a measurement to its exit code: 0, or 1 with one error line when it failed, or 130
    /// when interrupted.
    /// </summary>
    internal static async Task<int> Measure(Func<Task> measurement, TextWriter error, CancellationToken cancellation)
    {
        try
        {
            await measurement();
            return 0;
        }
        catch (BenchmarkException e)
        {
            error.WriteLine($"error: {e.Message}");
            return 1;
        }
        catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
        {
            error.WriteLine("error: interrupted");
            return 130;
        }
    }
}
