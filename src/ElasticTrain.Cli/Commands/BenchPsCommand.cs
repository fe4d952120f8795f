using System.CommandLine;
using System.Globalization;
using ElasticTrain.Cli.Benchmarks;
using ElasticTrain.Configuration;

namespace ElasticTrain.Cli.Commands;

/// <summary>
/// <c>elastictrain bench ps</c>: time to a target loss of all-reduce and the parameter server's
/// bsp, ssp and asp with one straggler of three nodes, and steps per second of all-reduce and ps
/// bsp at equal speeds (<see cref="ParameterServerBenchmark"/>). The last lines are the result, one
/// per run: <c>ps mode=M straggler=yes|no seconds_to_target=S steps_to_target=K steps_per_s=X max_staleness=Z</c>.
/// </summary>
public static class BenchPsCommand
{
    private const string Description =
        "Train a small GPT on 3 elastictrain processes on loopback (train, then 2 node --join, 1 rank each), a fresh job per run. "
        + "With node 3 slowed --slowdown times: ps bsp until step --target-step, whose mean loss over the last --window steps is the target; "
        + "then allreduce, ps ssp (staleness 2) and ps asp until their mean loss reaches it (or step --max-steps). "
        + "Time to target counts from the first step at world 3. At equal speeds: steps/s of allreduce and ps bsp over --rate-steps steps "
        + "at world 3 less --warmup. Prints a table, then one line per run: "
        + "ps mode=M straggler=yes|no seconds_to_target=S steps_to_target=K steps_per_s=X max_staleness=Z";

    public static Command Create(TextWriter error)
    {
        var targetStep = new Option<int>("--target-step") { Description = "The step of ps bsp whose mean loss is the target", DefaultValueFactory = _ => 300 };
        var maxSteps = new Option<int?>("--max-steps") { Description = "The step at which a run that has not reached the target stops (default: 2 x --target-step)" };
        var rateSteps = new Option<int>("--rate-steps") { Description = "Steps at world 3 of each equal-speed run, warmup included", DefaultValueFactory = _ => 60 };
        var warmup = new Option<int>("--warmup") { Description = "Steps at world 3 of each equal-speed run left out before measuring", DefaultValueFactory = _ => 10 };
        var window = new Option<int>("--window") { Description = "Steps each moving average of the loss takes", DefaultValueFactory = _ => 10 };
        var slowdown = new Option<double>("--slowdown") { Description = "How many times slower the straggler's forward and backward are", DefaultValueFactory = _ => 2 };
        var globalBatch = new Option<int>("--global-batch") { Description = "Samples per step over all ranks", DefaultValueFactory = _ => 12 };
        var flags = new HoconFlags().AddModel();
        var command = new Command("ps", Description) { targetStep, maxSteps, rateSteps, warmup, window, slowdown, globalBatch };
        flags.AddTo(command);
        command.SetAction(async (parse, cancellation) =>
        {
            var target = parse.GetValue(targetStep);
            var options = new ParameterServerBenchmark.Options(parse.GetValue(globalBatch), target, parse.GetValue(maxSteps) ?? 2 * target,
                parse.GetValue(rateSteps), parse.GetValue(warmup), parse.GetValue(window), parse.GetValue(slowdown), ModelFlags(parse, flags));
            Validate(options);
            return await BenchCommand.Measure(() => ParameterServerBenchmark.RunAsync(options, Console.Out, cancellation), error, cancellation);
        });
        return command;
    }

    /// <summary>The tiny GPT of the tests unless a model flag says otherwise; the flags given pass on to <c>train</c> as they are.</summary>
    private static string[] ModelFlags(ParseResult parse, HoconFlags flags)
    {
        var given = new Dictionary<string, string> { ["--model"] = "gpt", ["--layers"] = "2", ["--heads"] = "2", ["--width"] = "32", ["--block"] = "32" };
        foreach (var (flag, value) in flags.Given(parse)) given[flag] = value;
        return [.. given.SelectMany(pair => new[] { pair.Key, pair.Value })];
    }

    private static void Validate(ParameterServerBenchmark.Options options)
    {
        if (options.Window < 1) throw new SettingsException($"--window must be at least 1, not {options.Window}");
        if (options.TargetStep < options.Window)
            throw new SettingsException($"--target-step must be at least --window ({options.Window}) to have a mean loss, not {options.TargetStep}");
        if (options.MaxSteps < options.TargetStep) throw new SettingsException($"--max-steps must be at least --target-step ({options.TargetStep}), not {options.MaxSteps}");
        if (options.Warmup < 0) throw new SettingsException($"--warmup must be 0 or more, not {options.Warmup}");
        if (options.RateSteps < options.Warmup + 2)
            throw new SettingsException($"--rate-steps must be at least --warmup + 2 ({options.Warmup + 2}) to measure a rate, not {options.RateSteps}");
        if (options.Slowdown < 1) throw new SettingsException($"--slowdown must be at least 1, not {options.Slowdown.ToString(CultureInfo.InvariantCulture)}");
        if (options.GlobalBatch < ParameterServerBenchmark.Nodes)
            throw new SettingsException($"--global-batch must be at least {ParameterServerBenchmark.Nodes}: every rank needs a sample per step, not {options.GlobalBatch}");
    }
}
