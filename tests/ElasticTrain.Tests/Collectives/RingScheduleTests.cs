using ElasticTrain.Collectives;

namespace ElasticTrain.Tests.Collectives;

public class RingScheduleTests
{
    [Theory]
    [InlineData(10, 3)]
    [InlineData(2, 4)]
    [InlineData(0, 3)]
    [InlineData(7, 1)]
    public void Chunks_tile_the_buffer_with_sizes_within_one(int length, int parts)
    {
        int next = 0;
        var sizes = new List<int>();
        for (int i = 0; i < parts; i++)
        {
            var (offset, count) = RingSchedule.Chunk(length, parts, i);
            Assert.Equal(next, offset);
            next += count;
            sizes.Add(count);
        }
        Assert.Equal(length, next);
        Assert.True(sizes.Max() - sizes.Min() <= 1);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(5)]
    public void What_a_member_receives_is_what_its_left_neighbour_sent(int n)
    {
        for (int phase = 0; phase < 2; phase++)
            for (int round = 0; round < n - 1; round++)
                for (int p = 0; p < n; p++)
                    Assert.Equal(RingSchedule.SendIndex(phase, round, (p - 1 + n) % n, n), RingSchedule.ReceiveIndex(phase, round, p, n));
    }

    [Fact]
    public void After_reduce_scatter_member_p_owns_chunk_p_plus_one_which_all_gather_sends_first()
    {
        const int n = 4;
        for (int p = 0; p < n; p++)
        {
            // The last chunk p reduces into is the one it then owns, and sends first in all-gather.
            Assert.Equal((p + 1) % n, RingSchedule.ReceiveIndex(RingAllReduce.ReduceScatter, n - 2, p, n));
            Assert.Equal((p + 1) % n, RingSchedule.SendIndex(RingAllReduce.AllGather, 0, p, n));
        }
    }
}
