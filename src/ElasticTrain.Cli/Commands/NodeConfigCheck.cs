using System.CommandLine;
using Akka.Configuration;
using ElasticTrain.Cli.Hosting;
using ElasticTrain.Configuration;

namespace ElasticTrain.Cli.Commands;

/// <summary>
/// How `check-config` reads `train`, `node` and `eval`: the merge their actions do (flags over
/// --config over the defaults, then <see cref="HostSettings.FromConfig"/>), the strict key check on
/// the config file, and a one-line account of where the node would bind and keep its journal.
/// </summary>
public static class NodeConfigCheck
{
    public static (HostSettings Settings, Config Config) Read(ParseResult parse, HoconFlags flags)
    {
        var file = parse.GetValue(NodeRun.ConfigFile);
        var config = NodeConfig.Merge(flags.Overrides(parse), file);
        if (!string.IsNullOrEmpty(file)) UnknownKeys.Refuse(HoconFiles.Load(file), NodeConfig.Defaults(), "elastictrain", $"config file '{file}'");
        return (HostSettings.FromConfig(config), config);
    }

    /// <summary>Where a node would run; never the store's connection string, which may hold a password.</summary>
    /// <param name="servesHttpByDefault">Whether the command serves its console when the port is `auto` (`train` does).</param>
    public static string Describe(HostSettings settings, bool servesHttpByDefault)
    {
        var store = JournalStore.Resolve(settings.Store, settings.DataDirectory);
        if (store.Provider != "SQLite.MS")
        {
            // What the store's probe would refuse first, short of connecting.
            try { _ = new Npgsql.NpgsqlConnectionStringBuilder(store.ConnectionString); }
            catch (Exception e) when (e is ArgumentException or FormatException)
            {
                throw new SettingsException($"elastictrain.store is not a valid PostgreSQL connection string: {HoconFiles.FirstLine(e.Message)}");
            }
        }
        var http = settings.HttpPortFor(servesHttpByDefault) is { } port ? $"{settings.HttpHost}:{Port(port)}" : "off";
        // A job's ranks sum gradients by all-reduce unless it says otherwise, so only ps is named.
        var mode = settings.Recipe.ParameterServer is { } ps ? $", {ps.Describe()}" : "";
        return $"{settings.Ranks} rank(s) on {settings.Device}{mode}, cluster {settings.Hostname}:{Port(settings.Port)}, " +
               $"data plane port {Port(settings.DataPlanePort)}, store {store.Description}, data directory {settings.DataDirectory}, http {http}";
    }

    private static string Port(int port) => port == 0 ? "any" : port.ToString(System.Globalization.CultureInfo.InvariantCulture);
}
