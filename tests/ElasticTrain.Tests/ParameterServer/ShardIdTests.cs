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

    [Fact]
    public void A_backups_entity_id_says_backup_and_reads_back_as_its_shards_sibling()
    {
        var backup = new ShardId("job", 3).Sibling;
        Assert.True(backup.Backup);
        Assert.Equal("job-backup-3", backup.EntityId);
        Assert.Equal(backup, ShardId.Parse("job-backup-3"));
        Assert.Equal(new ShardId("job", 3), backup.Sibling);
        // Whichever separator comes last separates: a job may be named after either.
        Assert.Equal(new ShardId("a-backup-1", 2), ShardId.Parse("a-backup-1-shard-2"));
        Assert.Equal(new ShardId("a-shard-1", 2, backup: true), ShardId.Parse("a-shard-1-backup-2"));
        Assert.Equal(["j-shard-1", "j-backup-1", "j-shard-2"],
            new[] { new ShardId("j", 2), new ShardId("j", 1, backup: true), new ShardId("j", 1) }.Order().Select(s => s.EntityId));
    }
}
