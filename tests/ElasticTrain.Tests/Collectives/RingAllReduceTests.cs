using Akka.Actor;
using Akka.TestKit.Xunit2;
using ElasticTrain.Collectives;

namespace ElasticTrain.Tests.Collectives;

public class RingAllReduceTests : TestKit
{
    /// <summary>A ring member's endpoint: posts chunks into its inbox, as a rank actor does.</summary>
    private sealed class Endpoint : ReceiveActor
    {
        public Endpoint(ExchangeInbox inbox) => Receive<RingChunk>(inbox.Post);
    }

    private (ExchangeInbox[] Inboxes, IActorRef[] Endpoints) Ring(int n)
    {
        var inboxes = Enumerable.Range(0, n).Select(_ => new ExchangeInbox()).ToArray();
        var endpoints = inboxes.Select(inbox => Sys.ActorOf(Props.Create(() => new Endpoint(inbox)))).ToArray();
        return (inboxes, endpoints);
    }

    private static float[][] RandomBuffers(int n, int length, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => Enumerable.Range(0, length).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray()).ToArray();
    }

    [Theory]
    [InlineData(1, 10)]
    [InlineData(2, 10)]
    [InlineData(3, 10)]
    [InlineData(4, 10)]
    [InlineData(3, 1000)]
    [InlineData(4, 7)]
    [InlineData(4, 3)]
    [InlineData(3, 1)]
    [InlineData(3, 0)]
    [InlineData(2, 0)]
    [InlineData(2, 3 * RingChunk.MaxPartValues + 5)] // chunks sent in several parts
    public async Task Every_member_ends_with_the_element_wise_sum(int n, int length)
    {
        var (inboxes, endpoints) = Ring(n);
        var buffers = RandomBuffers(n, length, seed: n * 1000 + length);
        var expected = new double[length];
        foreach (var buffer in buffers)
            for (int i = 0; i < length; i++) expected[i] += buffer[i];

        var members = Enumerable.Range(0, n).Select(p => Task.Run(() =>
            new RingAllReduce(inboxes[p], TimeSpan.FromSeconds(10))
                .AllReduceSum(buffers[p], new ExchangeGroup(1, 1, p, endpoints), CancellationToken.None))).ToArray();
        await Task.WhenAll(members).WaitAsync(TimeSpan.FromSeconds(20));

        foreach (var buffer in buffers)
            for (int i = 0; i < length; i++)
                Assert.Equal(expected[i], buffer[i], 1e-5);
    }

    [Fact]
    public async Task A_silent_peer_fails_the_exchange_within_the_timeout()
    {
        var (inboxes, endpoints) = Ring(3);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        // Members 0 and 1 run; member 2 never does (its process died).
        var members = Enumerable.Range(0, 2).Select(p => Task.Run(() =>
            new RingAllReduce(inboxes[p], TimeSpan.FromMilliseconds(500))
                .AllReduceSum(new float[30], new ExchangeGroup(1, 1, p, endpoints), CancellationToken.None))).ToArray();
        foreach (var member in members)
            await Assert.ThrowsAsync<ExchangeFailedException>(() => member.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"took {clock.Elapsed}");
    }

    [Fact]
    public void Chunks_of_an_earlier_exchange_are_dropped_and_counted()
    {
        var inbox = new ExchangeInbox();
        inbox.Post(new RingChunk(Generation: 1, Step: 9, Phase: 0, Round: 0, Part: 0, [1f]));   // old generation
        inbox.Post(new RingChunk(Generation: 2, Step: 3, Phase: 1, Round: 0, Part: 0, [2f]));   // earlier step, same generation
        inbox.Post(new RingChunk(Generation: 2, Step: 5, Phase: 0, Round: 0, Part: 0, [4f]));   // later: held
        inbox.Post(new RingChunk(Generation: 2, Step: 4, Phase: 0, Round: 0, Part: 0, [3f]));   // the one asked for

        var chunk = inbox.Take((2, 4, 0, 0, 0), TimeSpan.FromSeconds(1), CancellationToken.None);
        Assert.Equal([3f], chunk.Values);
        Assert.Equal(2, inbox.Dropped);
        Assert.Equal([4f], inbox.Take((2, 5, 0, 0, 0), TimeSpan.FromSeconds(1), CancellationToken.None).Values);
    }
}
