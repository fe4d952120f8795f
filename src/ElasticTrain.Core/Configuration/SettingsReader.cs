using Akka.Configuration;

namespace ElasticTrain.Configuration;

/// <summary>
/// Typed, validated reads from a HOCON section. Every failure names the full key and the bad value,
/// so a user can find it in their file or flag.
/// </summary>
public sealed class SettingsReader(Config config, string section)
{
    private string Key(string name) => $"{section}.{name}";

    public string String(string name)
    {
        try { return config.GetString(Key(name)) ?? ""; }
        catch (Exception e) when (e is not SettingsException) { throw Bad(name, e); }
    }

    public long Long(string name, long min = long.MinValue, long max = long.MaxValue)
    {
        var raw = String(name);
        if (!long.TryParse(raw, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out var value))
            throw new SettingsException($"{Key(name)} must be a whole number, not '{raw}'");
        if (value < min || value > max)
            throw new SettingsException($"{Key(name)} must be {Range(min, max)}, not {value}");
        return value;
    }

    public int Int(string name, int min = int.MinValue, int max = int.MaxValue) => (int)Long(name, min, max);

    public double Double(string name, double min, double max)
    {
        var raw = String(name);
        if (!double.TryParse(raw, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var value)
            || double.IsNaN(value))
            throw new SettingsException($"{Key(name)} must be a number, not '{raw}'");
        if (value < min || value > max)
            throw new SettingsException($"{Key(name)} must be between {min} and {max}, not {value}");
        return value;
    }

    /// <summary>A size such as <c>4 MiB</c> or <c>1048576</c>, in bytes.</summary>
    public long Bytes(string name, long min, long max)
    {
        long value;
        try { value = config.GetByteSize(Key(name)) ?? throw new SettingsException($"{Key(name)} must be a size such as 4 MiB"); }
        catch (Exception e) when (e is not SettingsException) { throw new SettingsException($"{Key(name)} must be a size such as 4 MiB, not '{String(name)}'"); }
        if (value < min || value > max)
            throw new SettingsException($"{Key(name)} must be {Range(min, max)} bytes, not {value}");
        return value;
    }

    /// <summary><c>auto</c> (null: the program decides) or a whole number in [min, max].</summary>
    public int? AutoInt(string name, int min, int max) => IsAuto(name) ? null : Int(name, min, max);

    /// <summary><c>auto</c> (null: the program decides) or a size in bytes, as <see cref="Bytes"/>.</summary>
    public long? AutoBytes(string name, long min, long max) => IsAuto(name) ? null : Bytes(name, min, max);

    private bool IsAuto(string name) => String(name).Trim().Equals("auto", StringComparison.OrdinalIgnoreCase);

    public TimeSpan Duration(string name)
    {
        try
        {
            var value = config.GetTimeSpan(Key(name), null, allowInfinite: false);
            if (value <= TimeSpan.Zero) throw new SettingsException($"{Key(name)} must be a positive duration");
            return value;
        }
        catch (Exception e) when (e is not SettingsException) { throw Bad(name, e); }
    }

    public string OneOf(string name, params string[] allowed)
    {
        var value = String(name);
        if (!allowed.Contains(value, StringComparer.Ordinal))
            throw new SettingsException($"{Key(name)} must be one of {string.Join(", ", allowed)}, not '{value}'");
        return value;
    }

    private SettingsException Bad(string name, Exception e) =>
        new($"{Key(name)}: {HoconFiles.FirstLine(e.Message)}");

    private static string Range(long min, long max) =>
        max == long.MaxValue || max == int.MaxValue ? $"at least {min}" : $"between {min} and {max}";
}
