using ElasticTrain.Cli.Hosting;
using ElasticTrain.Configuration;

namespace ElasticTrain.Tests.Configuration;

public class HoconSyntaxTests
{
    [Theory]
    [InlineData("a { b", "line 1: '{' is never closed")]
    [InlineData("x = [1, 2", "line 1: '[' is never closed")]
    [InlineData("a = }", "line 1: '=' has no value after it")]
    [InlineData("a {\n  b = 1\n}}", "line 3: unexpected '}'")]
    [InlineData("a = \"open", "line 1: a quoted string is never closed")]
    [InlineData("a = \"\"\"never", "line 1: a \"\"\" string is never closed")]
    [InlineData("a {\n b = 1\n c =\n}", "line 3: '=' has no value after it")]
    public void Malformed_hocon_is_refused_with_its_line(string text, string expected)
    {
        var error = Assert.Throws<SettingsException>(() => HoconFiles.Parse(text, "test"));
        Assert.Equal($"test is not valid HOCON: {expected}", error.Message);
    }

    [Theory]
    [InlineData("a = 1 # } not a brace")]
    [InlineData("a = \"{ [ inside a string\"")]
    [InlineData("host = \"akka.tcp://sys@127.0.0.1:4053\"")]
    [InlineData("a { b : 1, c : [1, 2] }")]
    [InlineData("a = \"\"\"multi\nline { \"\"\"")]
    public void Well_formed_hocon_passes(string text) => HoconFiles.Parse(text, "test");

    [Fact]
    public void Every_shipped_hocon_file_passes_the_check()
    {
        var root = RepositoryRoot.Find();
        var files = Directory.GetFiles(Path.Combine(root, "hocon"), "*.conf", SearchOption.AllDirectories)
            .Concat(Directory.GetFiles(Path.Combine(root, "src"), "reference.conf", SearchOption.AllDirectories)).ToList();
        Assert.True(files.Count >= 5, $"found only {files.Count} .conf files");
        foreach (var file in files)
        {
            var config = HoconFiles.Load(file);
            // Each must also merge with the defaults into valid settings.
            HostSettings.FromConfig(config.WithFallback(NodeConfig.Defaults()));
        }
    }
}
