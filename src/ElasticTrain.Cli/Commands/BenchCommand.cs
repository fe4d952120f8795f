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
        return bench;
    }
}
