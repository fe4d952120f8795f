using ElasticTrain.Cli.Hosting;
using ElasticTrain.Configuration;

namespace ElasticTrain.Tests.Configuration;

public class UnknownKeysTests
{
    private static IReadOnlyList<string> Unknown(string hocon) =>
        UnknownKeys.Under(HoconFiles.Parse(hocon, "test"), NodeConfig.Defaults(), "elastictrain");

    [Fact]
    public void Keys_the_defaults_define_pass_at_any_depth()
    {
        Assert.Empty(Unknown("elastictrain {\n ranks = 1\n job { optimizer.beta2 = 0.95, lr-schedule.name = cosine }\n http.port = 80\n discovery.method = config\n}"));
        Assert.Empty(Unknown("akka.remote.dot-netty.tcp.port = 4053\nakka.discovery.config.services.elastictrain.endpoints = [\"a:1\"]"));
    }

    [Fact]
    public void Typos_and_keys_under_a_leaf_are_named_in_file_order()
    {
        Assert.Equal(["elastictrain.job.globl-batch", "elastictrain.http.port.number", "elastictrain.rank"],
            Unknown("elastictrain { job.globl-batch = 4, http.port.number = 80, rank = 2, ranks = 2 }"));
    }
}
