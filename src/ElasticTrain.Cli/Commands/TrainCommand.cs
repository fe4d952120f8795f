using System.CommandLine;
using ElasticTrain.Cli.Hosting;

namespace ElasticTrain.Cli.Commands;

/// <summary>
/// <c>elastictrain train</c>: starts (or resumes) a job, on a node that other nodes may join with
/// <c>elastictrain node --join</c>. Each flag maps to one HOCON key and overrides it.
/// </summary>
public static class TrainCommand
{
    public static Command Create(TextWriter error)
    {
        var flags = HoconFlags.ForNode()
            .Add<string>("--job", "elastictrain.job.id", "Job id; a run with the same id resumes it")
            .AddTraining()
            .Add<long>("--steps", "elastictrain.job.steps", "Total optimizer steps")
            .Add<int>("--checkpoint-every", "elastictrain.job.checkpoint-every", "Checkpoint period in steps")
            .Add<string>("--stages", "elastictrain.parallel.stages", "Pipeline stages: auto (default) or a number")
            .Add<string>("--micro-batches", "elastictrain.parallel.micro-batches", "Micro-batches per step and replica: auto (default) or a number")
            .Add<string>("--schedule", "elastictrain.parallel.schedule", "Pipeline schedule: 1f1b (default) or gpipe")
            .Add<string>("--rank-memory", "elastictrain.parallel.rank-memory", "What one rank may hold, e.g. 8 GiB (default auto)");
        var command = new Command("train", "Train a model, starting or resuming a job; other nodes may join it");
        flags.AddTo(command);
        NodeRun.AddCommonOptions(command);
        command.SetAction((parse, cancellation) => NodeRun.RunAsync(parse, flags, error, NodeHost.TrainAsync, cancellation));
        return command;
    }
}
