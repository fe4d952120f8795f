using System.CommandLine;
using Akka.Configuration;
using ElasticTrain.Cli.Hosting;
using ElasticTrain.Cli.Reporting;

namespace ElasticTrain.Cli.Commands;

/// <summary>What `train` and `node` share: merge flags over --config over defaults, report, run, exit.</summary>
public static class NodeRun
{
    public static readonly Option<string> ConfigFile = new("--config") { Description = "HOCON file; flags override it" };
    public static readonly Option<bool> Plain = new("--plain") { Description = "Plain log lines even on a terminal" };

    public delegate Task<NodeHost.Result> Host(HostSettings settings, Config config, IReadOnlyList<IJobReporter> reporters, LiveNode live, CancellationToken cancellation);

    public static void AddCommonOptions(Command command)
    {
        command.Options.Add(ConfigFile);
        command.Options.Add(Plain);
    }

    /// <param name="servesHttpByDefault">Whether `auto` (the default) serves the console: `train` does, `node` only when asked.</param>
    public static async Task<int> RunAsync(ParseResult parse, HoconFlags flags, TextWriter error, Host host, bool servesHttpByDefault, CancellationToken cancellation)
    {
        var config = NodeConfig.Merge(flags.Overrides(parse), parse.GetValue(ConfigFile));
        var settings = HostSettings.FromConfig(config);
        var reporters = new List<IJobReporter>();
        var live = new LiveNode();
        HttpEndpoints? http = null;
        NodeHost.Result result;
        try
        {
            if (settings.HttpPortFor(servesHttpByDefault) is { } httpPort)
            {
                var registry = Prometheus.Metrics.NewCustomRegistry();
                // Started first: a taken port is refused before anything of the job is touched. The
                // node prints the console's address once it knows the job (and its operator token).
                http = await HttpEndpoints.StartAsync(settings.HttpHost, httpPort, registry, live);
                live.Address = http.Address;
                reporters.Add(new PrometheusReporter(registry, settings.Ranks));
            }
            reporters.Add(!parse.GetValue(Plain) && !Console.IsOutputRedirected && Spectre.Console.AnsiConsole.Profile.Capabilities.Interactive
                ? new TerminalProgress()
                : new PlainLog(Console.Out));
            if (settings.Metrics.Length > 0) reporters.Add(new MetricsFile(settings.Metrics));
            if (settings.TraceSamples.Length > 0) reporters.Add(new SampleTrace(settings.TraceSamples));
            result = await host(settings, config, reporters, live, cancellation);
        }
        finally
        {
            // The progress bar owns the console until it is disposed: close it before the error line.
            foreach (var reporter in reporters) reporter.Dispose();
            if (http is not null) await http.DisposeAsync();
        }
        if (result.Info is not null) Console.WriteLine(result.Info);
        if (result.Error is not null) error.WriteLine($"error: {result.Error}");
        return result.ExitCode;
    }
}
