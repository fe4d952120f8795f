using ElasticTrain.Configuration;

namespace ElasticTrain.Tests.Configuration;

public class EnvironmentSubstitutionTests
{
    private static readonly Dictionary<string, string> Environment_ = new()
    {
        ["ELASTICTRAIN_STORE"] = "Host=db;Password=p\"q",
        ["HTTP_PORT"] = "8080",
    };

    private static string Apply(string text) => EnvironmentSubstitution.Apply(text, "test", name => Environment_.GetValueOrDefault(name));

    [Fact]
    public void A_set_variable_becomes_the_keys_value_as_a_quoted_string()
    {
        var config = HoconFiles.Parse(Apply("elastictrain {\n  store = ${?ELASTICTRAIN_STORE}\n  http.port: ${HTTP_PORT} # the probes\n}\n"), "test");
        Assert.Equal("Host=db;Password=p\"q", config.GetString("elastictrain.store"));
        Assert.Equal("8080", config.GetString("elastictrain.http.port"));
    }

    [Fact]
    public void An_unset_optional_variable_leaves_the_key_to_what_came_before_or_the_defaults()
    {
        var text = Apply("elastictrain {\n  ranks = 3\n  ranks = ${?ELASTICTRAIN_RANKS}\n  data-directory = ${?ELASTICTRAIN_DATA}\n}\n");
        var config = HoconFiles.Parse(text, "test").WithFallback(HoconFiles.Parse("elastictrain.data-directory = data", "defaults"));
        Assert.Equal(3, config.GetInt("elastictrain.ranks"));
        Assert.Equal("data", config.GetString("elastictrain.data-directory"));
    }

    [Theory]
    [InlineData("elastictrain.store = ${ELASTICTRAIN_RANKS}\n", "test: line 1: the environment variable ELASTICTRAIN_RANKS is not set (write ${?ELASTICTRAIN_RANKS} to make it optional)")]
    [InlineData("a = 1\nelastictrain { store = ${?ELASTICTRAIN_STORE} }\n", "test: line 2: an environment variable must be a key's whole value on a line of its own (key = ${?NAME})")]
    [InlineData("elastictrain.store = \"Host=\"${?ELASTICTRAIN_STORE}\n", "test: line 1: an environment variable must be a key's whole value on a line of its own (key = ${?NAME})")]
    public void A_variable_it_cannot_fill_safely_is_refused_naming_the_line(string text, string expected) =>
        Assert.Equal(expected, Assert.Throws<SettingsException>(() => Apply(text)).Message);

    [Fact]
    public void Hocon_paths_and_comments_are_not_variables()
    {
        const string text = "a = 1\nb = ${a}\n# store = ${ELASTICTRAIN_UNSET}\n";
        Assert.Equal(text, Apply(text));
        Assert.Equal(["ELASTICTRAIN_STORE", "HTTP_PORT"], EnvironmentSubstitution.Names("x = ${?ELASTICTRAIN_STORE}\n# ${NOT_READ}\ny = ${HTTP_PORT}\nz = ${?ELASTICTRAIN_STORE}\n"));
    }
}
