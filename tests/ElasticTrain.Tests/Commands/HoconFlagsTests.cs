using System.CommandLine;
using ElasticTrain.Cli.Commands;
using ElasticTrain.Cli.Hosting;
using ElasticTrain.Configuration;
using ElasticTrain.ParameterServer;

namespace ElasticTrain.Tests.Commands;

public class HoconFlagsTests
{
    private static readonly HoconFlags Flags = new HoconFlags().AddParameterServer();

    private static HostSettings Read(params string[] args)
    {
        var command = new Command("train");
        Flags.AddTo(command);
        return HostSettings.FromConfig(Flags.Overrides(command.Parse(args)).WithFallback(NodeConfig.Defaults()));
    }

    [Fact]
    public void Mode_sets_the_collective_in_the_keys_words_and_the_ps_flags_set_their_keys()
    {
        Assert.Equal("ring", Read().Collective);
        Assert.Equal("ring", Read("--mode", "allreduce").Collective);
        var ps = Read("--mode", "ps", "--consistency", "ssp", "--staleness", "3", "--shards", "4");
        Assert.Equal("ps", ps.Collective);
        Assert.Equal(new ParameterServerSettings(4, Consistency.Ssp, 3, 0, "node"), ps.Recipe.ParameterServer);
        Assert.Null(Read("--mode", "ps", "--shards", "auto").Recipe.ParameterServer!.Shards);
    }

    [Fact]
    public void A_word_the_flag_does_not_take_is_refused_in_one_line_that_lists_the_choices()
    {
        var refused = Assert.Throws<SettingsException>(() => Read("--mode", "ring"));
        Assert.Equal("--mode must be one of allreduce, ps, not 'ring'", refused.Message);
    }
}
