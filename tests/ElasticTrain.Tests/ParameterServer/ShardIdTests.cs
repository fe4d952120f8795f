using ElasticTrain.ParameterServer;

namespace ElasticTrain.Tests.ParameterServer;

public class ShardIdTests
{
    [Fact]
    public void A_shards_entity_id_is_its_job_and_index_and_reads_back()
    {
        var id = new ShardId("job", 3);
        Assert.Equal("job-shard-3", id.EntityId);
        Assert.Equal(id, ShardId.Parse("job-shard-3"));
        // A job name may contain the separator: the last one counts.
        Assert.Equal(new ShardId("a-shard-1", 12), ShardId.Parse(new ShardId("a-shard-1", 12).EntityId));
    }

    [Theory]
    [InlineData("job")]
    [InlineData("-shard-3")]
    [InlineData("job-shard-")]
    [InlineData("job-shard--1")]
    [InlineData("job-shard-x")]
    [InlineData("job-shard-3 ")]
    public void Text_that_is_not_an_entity_id_is_refused(string text) =>
        Assert.Throws<FormatException>(() => ShardId.Parse(text));

    [Fact]
    public void Shards_order_by_job_then_by_index_as_a_number_and_bad_ids_are_refused()
    {
        Assert.Equal(["a-shard-2", "a-shard-10", "b-shard-1"],
            new[] { new ShardId("b", 1), new ShardId("a", 10), new ShardId("a", 2) }.Order().Select(s => s.EntityId));
        Assert.Contains("negative", Assert.Throws<ArgumentException>(() => new ShardId("job", -1)).Message);
        Assert.Contains("job name is empty", Assert.Throws<ArgumentException>(() => new ShardId("", 0)).Message);
    }
}
