using Akka.Configuration;

namespace ElasticTrain.Configuration;

/// <summary>Reads HOCON from embedded resources and user files, turning parse failures into one-line errors.</summary>
public static class HoconFiles
{
    /// <summary>The reference.conf embedded in an assembly under the logical name "{assembly}.reference.conf".</summary>
    public static Config Reference(System.Reflection.Assembly assembly)
    {
        var name = assembly.GetName().Name + ".reference.conf";
        using var stream = assembly.GetManifestResourceStream(name)
            ?? throw new InvalidOperationException($"{name} is not embedded in {assembly.GetName().Name}");
        using var reader = new StreamReader(stream);
        return ConfigurationFactory.ParseString(reader.ReadToEnd());
    }

    /// <summary>A user's file, with its environment variables (<c>${?NAME}</c>) filled in; see <see cref="EnvironmentSubstitution"/>.</summary>
    public static Config Load(string path)
    {
        if (!File.Exists(path))
            throw new SettingsException($"config file '{path}' does not exist");
        var what = $"config file '{path}'";
        return Parse(EnvironmentSubstitution.Apply(File.ReadAllText(path), what, Environment.GetEnvironmentVariable), what);
    }

    public static Config Parse(string text, string what)
    {
        HoconSyntax.Check(text, what);
        try
        {
            return ConfigurationFactory.ParseString(text);
        }
        catch (Exception e) when (e is not OutOfMemoryException) // the parser throws several unrelated types
        {
            throw new SettingsException($"{what} is not valid HOCON: {FirstLine(e.Message)}");
        }
    }

    public static string FirstLine(string message) => message.Split('\n', 2)[0].Trim();
}
