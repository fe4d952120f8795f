using System.Globalization;

namespace ElasticTrain.Tests;

/// <summary>Reads Prometheus' text exposition format: each series' value, and each metric's declared type.</summary>
public sealed record PrometheusText(IReadOnlyDictionary<string, double> Values, IReadOnlyDictionary<string, string> Types)
{
    /// <summary>Fails on any line that is neither a comment nor <c>name[{labels}] value</c>.</summary>
    public static PrometheusText Parse(string text)
    {
        var values = new Dictionary<string, double>();
        var types = new Dictionary<string, string>();
        foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            if (line.StartsWith("# TYPE ", StringComparison.Ordinal))
            {
                var parts = line.Split(' ');
                types.Add(parts[2], parts[3]);
                continue;
            }
            if (line.StartsWith('#')) continue;
            var space = line.LastIndexOf(' ');
            Assert.True(space > 0, $"not a sample line: '{line}'");
            values.Add(line[..space], double.Parse(line[(space + 1)..], NumberStyles.Float, CultureInfo.InvariantCulture));
        }
        return new PrometheusText(values, types);
    }

    public double this[string series] => Values.TryGetValue(series, out var value) ? value : throw new Xunit.Sdk.XunitException($"no series '{series}' in the scrape");
}
