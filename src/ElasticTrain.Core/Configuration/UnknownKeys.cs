using Akka.Configuration;
using Akka.Configuration.Hocon;

namespace ElasticTrain.Configuration;

/// <summary>
/// Keys a user's file sets under a section that the defaults do not define. Every key ElasticTrain
/// reads has a default (Core's reference.conf says so), so such a key is a typo or a key that was
/// renamed, and setting it does nothing: a deploy file that still sets a renamed key would run with
/// the default without a word. Akka's own section is left alone: its plugins define keys that our
/// defaults do not load.
/// </summary>
public static class UnknownKeys
{
    /// <summary>The full paths of the leaves of <paramref name="user"/> under <paramref name="section"/> that <paramref name="defaults"/> lacks, in file order.</summary>
    public static IReadOnlyList<string> Under(Config user, Config defaults, string section)
    {
        if (user.IsEmpty || !user.HasPath(section)) return [];
        var unknown = new List<string>();
        Walk(user.GetValue(section), section, defaults, unknown);
        return unknown;
    }

    /// <summary>Throws <see cref="SettingsException"/> naming the first unknown key, if any.</summary>
    public static void Refuse(Config user, Config defaults, string section, string what)
    {
        var unknown = Under(user, defaults, section);
        if (unknown.Count > 0)
            throw new SettingsException($"{what} sets {unknown[0]}, which is not a known key{(unknown.Count > 1 ? $" (and {unknown.Count - 1} more)" : "")}; see hocon/elastictrain.conf");
    }

    private static void Walk(HoconValue value, string path, Config defaults, List<string> unknown)
    {
        if (!value.IsObject())
        {
            if (!defaults.HasPath(path)) unknown.Add(path);
            return;
        }
        foreach (var (key, child) in value.GetObject().Items) Walk(child, $"{path}.{key}", defaults, unknown);
    }
}
