using System.Diagnostics;
using System.Security.Cryptography;
using ElasticTrain.Collectives;
using ElasticTrain.Collectives.Transport;

namespace ElasticTrain.Tests.Collectives;

/// <summary>
/// A rank's port between generations and deaths: a peer whose process is gone is noticed through
/// the link this rank opened to it, and an abort of one generation leaves alone the links a peer
/// already opened for the next.
/// </summary>
public sealed class RankPortTests : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);
    private readonly byte[] _secret = RandomNumberGenerator.GetBytes(32);
    private readonly TensorTransport _here, _there;

    public RankPortTests()
    {
        _here = new TensorTransport("127.0.0.1", _secret);
        _there = new TensorTransport("127.0.0.1", _secret);
    }

    public void Dispose()
    {
        _here.Dispose();
        _there.Dispose();
    }

    [Fact]
    public void A_peer_that_dies_fails_a_wait_for_it_at_once_through_the_link_to_it()
    {
        var rank = _here.Open("r0");
        var peer = _there.Open("r1");
        rank.Outbound(1, new ExchangeMember("r1", peer.Address), DataChannel.Activations, Timeout, CancellationToken.None);
        peer.Inbound(1, "r0", DataChannel.Activations, Timeout, CancellationToken.None); // the link is up

        // r1 would send gradients back over a link it never opened; its process dies instead.
        var clock = Stopwatch.StartNew();
        var waiting = Task.Run(() => rank.Inbound(1, "r1", DataChannel.ActivationGradients, Timeout, CancellationToken.None));
        Thread.Sleep(200);
        _there.Dispose();
        var failure = Assert.Throws<AggregateException>(() => waiting.Wait(TimeSpan.FromSeconds(10))).InnerException;
        Assert.IsType<ExchangeFailedException>(failure);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"noticed after {clock.Elapsed.TotalSeconds:0.0} s");
    }

    [Fact]
    public void An_abort_leaves_the_links_a_peer_opened_for_a_later_generation()
    {
        var rank = _here.Open("r0");
        var peer = _there.Open("r1");
        rank.BeginGeneration(1);
        // The peer is a generation ahead and has already connected for it.
        peer.Outbound(2, new ExchangeMember("r0", rank.Address), DataChannel.RingAllReduce, Timeout, CancellationToken.None);
        Thread.Sleep(200);
        rank.Abort(); // generation 1 fails here
        var link = rank.Inbound(2, "r1", DataChannel.RingAllReduce, TimeSpan.FromSeconds(2), CancellationToken.None);
        Assert.NotNull(link);
    }
}
