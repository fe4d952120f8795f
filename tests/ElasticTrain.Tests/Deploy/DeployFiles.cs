using System.Text.RegularExpressions;
using ElasticTrain.Cli;
using ElasticTrain.Configuration;
using YamlDotNet.RepresentationModel;

namespace ElasticTrain.Tests.Deploy;

/// <summary>
/// Reading deploy/ as a container runtime would: YAML documents, a command line with the
/// environment and the mounts a manifest gives it, run through `elastictrain check-config`.
/// </summary>
public static partial class DeployFiles
{
    public static readonly string Folder = Path.Combine(RepositoryRoot.Find(), "deploy");

    /// <summary>What check-config said about a command line: a node's ports as it would bind them (0: any free port, or none).</summary>
    public sealed record Checked(string Line, int ClusterPort, int DataPlanePort, int? HttpPort);

    public static IReadOnlyList<YamlMappingNode> Documents(string path)
    {
        var stream = new YamlStream();
        using (var reader = new StreamReader(path)) stream.Load(reader);
        return [.. stream.Documents.Select(d => (YamlMappingNode)d.RootNode)];
    }

    public static YamlNode? Get(this YamlNode node, string key) =>
        node is YamlMappingNode map && map.Children.TryGetValue(new YamlScalarNode(key), out var value) ? value : null;

    public static YamlNode At(this YamlNode node, params string[] keys) =>
        keys.Aggregate(node, (at, key) => at.Get(key) ?? throw new Xunit.Sdk.XunitException($"no '{key}' in {at.Start}"));

    public static string Text(this YamlNode node, params string[] keys) => ((YamlScalarNode)node.At(keys)).Value!;

    public static IEnumerable<YamlNode> Items(this YamlNode node, params string[] keys) => (YamlSequenceNode)node.At(keys);

    public static string[] Words(this YamlNode node, params string[] keys) => [.. node.Items(keys).Select(i => ((YamlScalarNode)i).Value!)];

    /// <summary>
    /// Runs <c>elastictrain check-config</c> on an <c>elastictrain ...</c> command line (without the
    /// program's name), as the container would run it: a --config path is the repository file mounted
    /// there, with the container's environment filled in. Fails the test unless it says ok.
    /// </summary>
    public static async Task<Checked> CheckAsync(string[] commandLine, IReadOnlyDictionary<string, string> environment,
        IReadOnlyDictionary<string, string> mounts)
    {
        var args = commandLine.ToArray();
        var configAt = Array.IndexOf(args, "--config");
        string? temporary = null;
        if (configAt >= 0)
        {
            Assert.True(mounts.TryGetValue(args[configAt + 1], out var file), $"{args[configAt + 1]} is not a file the manifest mounts");
            // Variables the container does not have are left unset, so a required one fails here.
            var text = EnvironmentSubstitution.Apply(File.ReadAllText(file), $"config file '{file}'", name => environment.GetValueOrDefault(name));
            temporary = Path.Combine(Path.GetTempPath(), $"et-deploy-{Guid.NewGuid():N}.conf");
            File.WriteAllText(temporary, text);
            args[configAt + 1] = temporary;
        }
        try
        {
            var output = new StringWriter();
            var error = new StringWriter();
            var code = await CliApp.RunAsync(["check-config", .. args], error, output: output);
            Assert.True(code == 0, $"elastictrain {string.Join(' ', commandLine)}: {error.ToString().Trim()}");
            var line = output.ToString().Trim();
            // Operator commands bind nothing: their summary names no ports.
            if (Summary().Match(line) is not { Success: true } node) return new Checked(line, 0, 0, null);
            return new Checked(line, Port(node.Groups["cluster"].Value), Port(node.Groups["plane"].Value),
                node.Groups["http"] is { Success: true } http ? Port(http.Value) : null);
        }
        finally
        {
            if (temporary is not null) File.Delete(temporary);
        }
    }

    [GeneratedRegex(@"cluster \S+:(?<cluster>\w+), data plane port (?<plane>\w+), .*http (?:off|\S+:(?<http>\w+))$")]
    private static partial Regex Summary();

    // 0 stands for "any free port", which no manifest can publish.
    private static int Port(string text) => text == "any" ? 0 : int.Parse(text, System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>
    /// The <c>elastictrain</c> commands of a shell script such as a preStop's <c>sh -c</c>: split at
    /// <c>;</c>, <c>&amp;&amp;</c> and <c>||</c>, words unquoted, <c>$NAME</c> and <c>${NAME}</c> taken from the environment.
    /// </summary>
    public static IReadOnlyList<string[]> ElasticTrainCommands(string script, IReadOnlyDictionary<string, string> environment)
    {
        var expanded = Variable().Replace(script, m =>
            environment.TryGetValue(m.Groups["name"].Value, out var value) ? value : throw new Xunit.Sdk.XunitException($"the script reads {m.Value}, which the container does not set"));
        return [.. Separator().Split(expanded)
            .Select(command => Word().Matches(command).Select(w => w.Groups["quoted"].Success ? w.Groups["quoted"].Value : w.Value).ToArray())
            .Where(words => words.Length > 0 && words[0] == "elastictrain")
            .Select(words => words[1..])];
    }

    [GeneratedRegex(@"\$\{?(?<name>[A-Za-z_][A-Za-z0-9_]*)\}?")]
    private static partial Regex Variable();

    [GeneratedRegex(@";|&&|\|\|")]
    private static partial Regex Separator();

    [GeneratedRegex("\"(?<quoted>[^\"]*)\"|[^\\s\"]+")]
    private static partial Regex Word();
}
