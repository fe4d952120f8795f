using System.CommandLine;
using System.Globalization;
using ElasticTrain.Cli.Benchmarks;
using ElasticTrain.Cli.Hosting;
using ElasticTrain.Configuration;

namespace ElasticTrain.Cli.Commands;

/// <summary>
/// <c>elastictrain bench ranks</c>: steps per second of a job trained in this process, for several
/// rank counts (<see cref="RankCountBenchmark"/>). The last lines are the result, one per rank count:
/// <c>median ranks=N steps_per_s=X samples_per_s=Y (min A, max B, n runs)</c>.
/// </summary>
public static class BenchRanksCommand
{
    private const string Description =
        "Train a job in this process with each rank count in turn, --rounds times, alternating the rank counts round by round, "
        + "each run a fresh job in a temporary folder. Measured: steps per second from the commit of step --warmup to the last step. "
        + "Prints round R ranks=N steps_per_s=X per run, then per rank count: "
        + "median ranks=N steps_per_s=X samples_per_s=Y (min A, max B, n runs)";

    public static Command Create(TextWriter error)
    {
        var ranks = new Option<string>("--ranks") { Description = "Rank counts to compare, separated by commas", DefaultValueFactory = _ => "1,2" };
        var rounds = new Option<int>("--rounds") { Description = "Runs of each rank count", DefaultValueFactory = _ => 3 };
        var steps = new Option<int>("--steps") { Description = "Steps of each run, warmup included", DefaultValueFactory = _ => 40 };
        var warmup = new Option<int>("--warmup") { Description = "Steps of each run left out before measuring", DefaultValueFactory = _ => 5 };
        var config = new Option<string?>("--config") { Description = "HOCON file of settings for every run (e.g. elastictrain.bucket-size); flags override it" };
        var flags = new HoconFlags()
            .AddTraining()
            .Add<int>("--threads", "elastictrain.intra-op-threads", "libtorch threads of this process (default 0: cores / ranks)");
        var command = new Command("ranks", Description) { ranks, rounds, steps, warmup, config };
        flags.AddTo(command);
        command.SetAction(async (parse, cancellation) =>
        {
            var options = new RankCountBenchmark.Options(RankCounts(parse.GetValue(ranks)!), parse.GetValue(rounds), parse.GetValue(steps), parse.GetValue(warmup));
            Validate(options);
            var settings = NodeConfig.Merge(flags.Overrides(parse), parse.GetValue(config));
            return await BenchCommand.Measure(() => RankCountBenchmark.RunAsync(settings, options, Console.Out, cancellation), error, cancellation);
        });
        return command;
    }

    private static int[] RankCounts(string text)
    {
        var counts = new List<int>();
        foreach (var part in text.Split(','))
        {
            if (!int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out var count) || count < 1)
                throw new SettingsException($"--ranks must be rank counts of 1 or more separated by commas (e.g. 1,2), not '{text}'");
            if (counts.Contains(count)) throw new SettingsException($"--ranks names {count} twice");
            counts.Add(count);
        }
        return [.. counts];
    }

    private static void Validate(RankCountBenchmark.Options options)
    {
        if (options.Rounds < 1) throw new SettingsException($"--rounds must be at least 1, not {options.Rounds}");
        // Step `warmup`'s commit starts the measurement: there is no commit before step 1.
        if (options.Warmup < 1) throw new SettingsException($"--warmup must be at least 1, not {options.Warmup}");
        if (options.Steps < options.Warmup + 2)
            throw new SettingsException($"--steps must be at least --warmup + 2 ({options.Warmup + 2}) to measure a rate, not {options.Steps}");
    }
}
