using ElasticTrain.Jobs;

namespace ElasticTrain.Tests.Coordination;

public class RankIdTests
{
    [Fact]
    public void Rank_ids_print_and_parse_as_host_port_slash_r_index()
    {
        var id = new RankId(new NodeAddress("10.0.0.1", 4053), 2);
        Assert.Equal("10.0.0.1:4053/r2", id.ToString());
        Assert.Equal(id, RankId.Parse("10.0.0.1:4053/r2"));
        Assert.Throws<FormatException>(() => RankId.Parse("10.0.0.1:4053"));
        Assert.Throws<FormatException>(() => RankId.Parse("host/r1"));
    }

    [Fact]
    public void Ranks_order_by_their_text_as_the_ring_always_did()
    {
        var ids = new[] { "b:1/r0", "a:2/r0", "a:10/r1", "a:10/r0" }.Select(RankId.Parse).Order().Select(r => r.ToString());
        Assert.Equal(new[] { "a:10/r0", "a:10/r1", "a:2/r0", "b:1/r0" }, ids);
    }
}
