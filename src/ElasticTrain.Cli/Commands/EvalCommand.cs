using System.CommandLine;
using System.Globalization;
using ElasticTrain.Cli.Hosting;

namespace ElasticTrain.Cli.Commands;

/// <summary>
/// <c>elastictrain eval --job ID</c>: the validation loss and perplexity of a job's latest
/// checkpoint on the windows it held out (<see cref="CheckpointEvaluation"/>). Takes the flags of
/// `train` that say where the job's things are and what its recipe was.
/// </summary>
public static class EvalCommand
{
    public static Command Create(TextWriter output)
    {
        var flags = new HoconFlags()
            .AddJobStore("The job to evaluate")
            .Add<int>("--threads", "elastictrain.intra-op-threads", "libtorch threads (default 0: all cores)")
            .Add<string>("--data", "elastictrain.job.data", "Where the job's data lies here (default: where the job read it)")
            .AddRecipe()
            .AddParameterServer();
        var command = new CheckedCommand("eval", "Validation loss and perplexity of a job's latest checkpoint on its held-out windows", parse =>
        {
            var settings = NodeConfigCheck.Read(parse, flags).Settings with { Ranks = 1 };
            return $"eval job {settings.Job.Id}; {NodeConfigCheck.Describe(settings, servesHttpByDefault: false)}";
        });
        flags.AddTo(command);
        command.Options.Add(NodeRun.ConfigFile);
        command.SetAction(async (parse, cancellation) =>
        {
            var config = NodeConfig.Merge(flags.Overrides(parse), parse.GetValue(NodeRun.ConfigFile));
            // One process, one replica: all cores are its own.
            var settings = HostSettings.FromConfig(config) with { Ranks = 1 };
            var result = await CheckpointEvaluation.RunAsync(settings, config, cancellation);
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"job {result.JobId} at step {result.Step}: val {result.Loss:0.000000} perplexity {result.Perplexity:0.0000} over {result.Samples} held-out windows"));
            return 0;
        });
        return command;
    }
}
