using System.Text.Json;
using System.Text.RegularExpressions;

namespace ElasticTrain.Configuration;

/// <summary>
/// Environment variables in a config file, as HOCON writes them: <c>store = ${?ELASTICTRAIN_STORE}</c>
/// takes the variable when it is set and leaves the key to the defaults when it is not;
/// <c>store = ${ELASTICTRAIN_STORE}</c> requires it. Akka's HOCON parser knows no environment
/// (it reads <c>${?X}</c> as an empty string, which would silently clear the key), so the
/// substitution happens here, on the file's text, before that parser sees it.
/// </summary>
/// <remarks>
/// A name in capitals, digits and underscores is an environment variable; anything else inside
/// <c>${...}</c> stays a HOCON path for Akka's parser. The variable must be a key's whole value on
/// a line of its own: then "unset" can mean "this line is not there", which is what HOCON means.
/// </remarks>
public static partial class EnvironmentSubstitution
{
    /// <summary>A whole line <c>key = ${?NAME}</c> (or <c>:</c>, or <c>key ${NAME}</c>), with an optional comment.</summary>
    [GeneratedRegex(@"^(?<key>\s*[^\s=:#{}\[\]]+\s*[=:]?\s*)\$\{(?<optional>\?)?(?<name>[A-Z_][A-Z0-9_]*)\}\s*(?:(?:#|//).*)?$")]
    private static partial Regex WholeValue();

    [GeneratedRegex(@"\$\{\??(?<name>[A-Z_][A-Z0-9_]*)\}")]
    private static partial Regex AnyReference();

    /// <summary>The text with every variable replaced by its value as a quoted string, or its line dropped when unset and optional.</summary>
    /// <param name="what">How errors name the text, e.g. "config file 'job.conf'".</param>
    public static string Apply(string text, string what, Func<string, string?> environment)
    {
        var lines = text.Split('\n');
        var kept = new List<string>(lines.Length);
        for (int i = 0; i < lines.Length; i++)
        {
            var line = lines[i];
            var content = line.TrimEnd('\r');
            if (!AnyReference().IsMatch(StripComment(content))) { kept.Add(line); continue; }
            var whole = WholeValue().Match(content);
            if (!whole.Success)
                throw new SettingsException($"{what}: line {i + 1}: an environment variable must be a key's whole value on a line of its own (key = ${{?NAME}})");
            var name = whole.Groups["name"].Value;
            var value = environment(name);
            if (value is null)
            {
                if (whole.Groups["optional"].Success) continue;
                throw new SettingsException($"{what}: line {i + 1}: the environment variable {name} is not set (write ${{?{name}}} to make it optional)");
            }
            kept.Add(whole.Groups["key"].Value + JsonSerializer.Serialize(value));
        }
        return string.Join('\n', kept);
    }

    /// <summary>The environment variables a text reads, in order of first use.</summary>
    public static IReadOnlyList<string> Names(string text) =>
        [.. text.Split('\n').SelectMany(line => AnyReference().Matches(StripComment(line)).Select(m => m.Groups["name"].Value)).Distinct()];

    // A '#' or '//' outside quotes starts a comment; what a comment mentions is not read.
    private static string StripComment(string line)
    {
        bool quoted = false;
        for (int i = 0; i < line.Length; i++)
        {
            if (line[i] == '"') quoted = !quoted;
            else if (!quoted && (line[i] == '#' || (line[i] == '/' && i + 1 < line.Length && line[i + 1] == '/'))) return line[..i];
        }
        return line;
    }
}
