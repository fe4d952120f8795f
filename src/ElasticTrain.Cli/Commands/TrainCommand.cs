using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using ElasticTrain.Cli.Hosting;
using ElasticTrain.Cli.Reporting;
using ElasticTrain.Configuration;

namespace ElasticTrain.Cli.Commands;

/// <summary>
/// <c>elastictrain train</c>: starts (or resumes) a job on this machine. Each flag maps to one HOCON
/// key and overrides it; unset flags leave the --config file and the defaults in charge.
/// </summary>
public static class TrainCommand
{
    private sealed record Flag(Option Option, string Key, bool Quoted);

    public static Command Create(TextWriter error)
    {
        var flags = new List<Flag>();
        Option<T> Add<T>(string name, string key, string description, bool quoted = false)
        {
            var option = new Option<T>(name) { Description = description };
            flags.Add(new Flag(option, key, quoted));
            return option;
        }

        Add<string>("--job", "elastictrain.job.id", "Job id; a run with the same id resumes it", quoted: true);
        Add<int>("--ranks", "elastictrain.ranks", "Rank actors on this node (default 2)");
        Add<string>("--model", "elastictrain.job.model", "gpt (default) or mlp", quoted: true);
        Add<int>("--layers", "elastictrain.job.layers", "Transformer blocks");
        Add<int>("--heads", "elastictrain.job.heads", "Attention heads");
        Add<int>("--width", "elastictrain.job.width", "Embedding width");
        Add<int>("--block", "elastictrain.job.block", "Context length in bytes");
        Add<long>("--steps", "elastictrain.job.steps", "Total optimizer steps");
        Add<int>("--global-batch", "elastictrain.job.global-batch", "Samples per step over all ranks");
        Add<double>("--lr", "elastictrain.job.learning-rate", "AdamW learning rate");
        Add<long>("--seed", "elastictrain.job.seed", "Seed of the model init and the data order");
        Add<string>("--data", "elastictrain.job.data", "Text file or folder (default: the .NET SDK's XML docs)", quoted: true);
        Add<int>("--checkpoint-every", "elastictrain.job.checkpoint-every", "Checkpoint period in steps");
        Add<string>("--store", "elastictrain.store", "SQLite file, or a PostgreSQL connection string (Host=...)", quoted: true);
        Add<string>("--data-dir", "elastictrain.data-directory", "Folder for the default store, checkpoints and caches", quoted: true);
        Add<string>("--metrics", "elastictrain.metrics", "Append JSON lines per committed step to this file", quoted: true);
        Add<string>("--device", "elastictrain.device", "cpu (default) or cuda", quoted: true);
        Add<string>("--host", "akka.remote.dot-netty.tcp.hostname", "Address the node binds (default 127.0.0.1)", quoted: true);
        Add<int>("--port", "akka.remote.dot-netty.tcp.port", "Port the node binds (default: any free port)");
        var configFile = new Option<string>("--config") { Description = "HOCON file; flags override it" };
        var plain = new Option<bool>("--plain") { Description = "Plain log lines even on a terminal" };

        var command = new Command("train", "Train a model on this machine's ranks; resumes the job if it exists");
        foreach (var flag in flags) command.Options.Add(flag.Option);
        command.Options.Add(configFile);
        command.Options.Add(plain);

        command.SetAction(async (parse, cancellation) =>
        {
            var overrides = new StringBuilder();
            foreach (var flag in flags)
            {
                // Only flags given on the command line override; GetResult is null for the others.
                if (parse.GetResult(flag.Option) is not { } given) continue;
                var value = given.GetValueOrDefault<object?>();
                if (value is null) continue;
                overrides.Append(flag.Key).Append(" = ").AppendLine(flag.Quoted
                    ? JsonSerializer.Serialize((string)value)
                    : Convert.ToString(value, CultureInfo.InvariantCulture));
            }
            var config = NodeConfig.Merge(HoconFiles.Parse(overrides.ToString(), "flags"), parse.GetValue(configFile));
            var settings = HostSettings.FromConfig(config);

            var reporters = new List<IJobReporter>();
            TrainingHost.Result result;
            try
            {
                reporters.Add(!parse.GetValue(plain) && !Console.IsOutputRedirected && Spectre.Console.AnsiConsole.Profile.Capabilities.Interactive
                    ? new TerminalProgress()
                    : new PlainLog(Console.Out));
                if (settings.Metrics.Length > 0) reporters.Add(new MetricsFile(settings.Metrics));
                result = await TrainingHost.RunAsync(settings, config, reporters, cancellation);
            }
            finally
            {
                // The progress bar owns the console until it is disposed: close it before the error line.
                foreach (var reporter in reporters) reporter.Dispose();
            }
            if (result.Error is not null) error.WriteLine($"error: {result.Error}");
            return result.ExitCode;
        });
        return command;
    }
}
