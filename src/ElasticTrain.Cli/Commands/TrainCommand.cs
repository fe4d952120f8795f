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
            .AddRecipe()
            .AddParameterServer()
            .Add<long>("--steps", "elastictrain.job.steps", "Total optimizer steps")
            .Add<int>("--checkpoint-every", "elastictrain.job.checkpoint-every", "Checkpoint period in steps")
            .Add<int>("--start-ranks", "elastictrain.start-ranks", "Ranks over all nodes a new job's first step waits for (default: this node's)")
            .AddParallel();
        var command = new CheckedCommand("train", "Train a model, starting or resuming a job; other nodes may join it", parse =>
        {
            var settings = NodeConfigCheck.Read(parse, flags).Settings;
            var job = settings.Job;
            return $"train job {job.Id} ({job.Model}, global batch {job.GlobalBatch}, {job.Steps} steps); {NodeConfigCheck.Describe(settings, servesHttpByDefault: true)}";
        });
        flags.AddTo(command);
        NodeRun.AddCommonOptions(command);
        command.SetAction((parse, cancellation) => NodeRun.RunAsync(parse, flags, error, NodeHost.TrainAsync, servesHttpByDefault: true, cancellation));
        return command;
    }
}
