using ElasticTrain.Configuration;
using ElasticTrain.Training;
using static ElasticTrain.Tests.Support.TestSettings;

namespace ElasticTrain.Tests.Training;

/// <summary>The compression setting as HOCON gives it, what it adds to the job's identity, and what is refused.</summary>
public sealed class CompressionSettingsTests
{
    [Theory]
    [InlineData("none", CompressionKind.None, 0, 0)]
    [InlineData("fp16", CompressionKind.Fp16, 0, 0)]
    [InlineData("BF16", CompressionKind.Bf16, 0, 0)]
    [InlineData("topk:0.01", CompressionKind.TopK, 0.01, 0)]
    [InlineData("topk:1", CompressionKind.TopK, 1.0, 0)]
    [InlineData("powersgd:4", CompressionKind.PowerSgd, 0, 4)]
    public void Each_mode_reads_with_its_ratio_or_rank(string text, CompressionKind kind, double ratio, int rank)
    {
        var settings = Read($"elastictrain.job.compression = \"{text}\"").Recipe.Exchange;
        Assert.Equal(new CompressionSettings(kind, ratio, rank), settings);
        Assert.Equal(settings, CompressionSettings.Parse(settings.Canonical));
    }

    [Theory]
    [InlineData("zip")]
    [InlineData("topk")]
    [InlineData("topk:0")]
    [InlineData("topk:1.5")]
    [InlineData("topk:x")]
    [InlineData("powersgd:0")]
    [InlineData("powersgd:2.5")]
    [InlineData("fp16:2")]
    public void A_bad_value_is_refused_naming_the_key(string text)
    {
        var refused = Assert.Throws<SettingsException>(() => Read($"elastictrain.job.compression = \"{text}\""));
        Assert.Contains("elastictrain.job.compression", refused.Message);
    }

    [Fact]
    public void Compression_enters_the_identity_and_the_description_and_none_changes_neither()
    {
        var job = Read().Job;
        string Hash(string hocon) => job.IdentityHash("data-1", Read(hocon).Recipe);
        Assert.Equal("468b9a311c13c3f6", Hash("elastictrain.job.compression = none")); // every earlier job's hash
        Assert.Equal("", Read("elastictrain.job.compression = none").Recipe.Describe());
        string[] modes = ["fp16", "bf16", "\"topk:0.01\"", "\"topk:0.02\"", "\"powersgd:4\"", "\"powersgd:2\""];
        Assert.Equal(modes.Length, modes.Select(m => Hash($"elastictrain.job.compression = {m}")).Append(Hash("")).Distinct().Count() - 1);
        var recipe = Read("elastictrain.job.compression = \"powersgd:4\"").Recipe;
        Assert.Equal("compression=powersgd:4", recipe.Canonical);
        Assert.Equal("powersgd:4 gradients", recipe.Describe());
    }
}
