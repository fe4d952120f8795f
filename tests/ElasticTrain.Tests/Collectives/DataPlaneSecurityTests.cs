using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using ElasticTrain.Collectives;
using ElasticTrain.Collectives.Transport;
using Kind = ElasticTrain.Tests.Collectives.DataPlaneGarbage.Kind;

namespace ElasticTrain.Tests.Collectives;

/// <summary>
/// The data plane believes nobody who cannot prove the job's secret, and bytes that make no sense
/// are refused without harm: two legitimate members, r0 and r1 on two transports (two processes'
/// worth of TCP), keep exchanging while strangers throw garbage at r0's port.
/// </summary>
public sealed class DataPlaneSecurityTests : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);
    private readonly byte[] _secret = RandomNumberGenerator.GetBytes(32);
    private readonly ConcurrentQueue<string> _warnings = new();
    private readonly List<IDisposable> _owned = [];
    private readonly TensorTransport _a, _b;
    private readonly RankPort _r0, _r1;

    public DataPlaneSecurityTests()
    {
        _a = Own(new TensorTransport("127.0.0.1", _secret, warn: _warnings.Enqueue));
        _b = Own(new TensorTransport("127.0.0.1", _secret, warn: _warnings.Enqueue));
        _r0 = _a.Open("r0");
        _r1 = _b.Open("r1");
    }

    private T Own<T>(T disposable) where T : IDisposable
    {
        _owned.Add(disposable);
        return disposable;
    }

    private static int PortOf(string address) => int.Parse(address.Split(':')[1]);

    /// <summary>One all-reduce between r0 and r1; both must end with the exact sum.</summary>
    private async Task Exchange(long generation, long step)
    {
        var random = new Random((int)(generation * 100 + step));
        var buffers = new[] { new float[1001], new float[1001] };
        foreach (var buffer in buffers) for (int i = 0; i < buffer.Length; i++) buffer[i] = (float)random.NextDouble();
        var expected = buffers[0].Zip(buffers[1], (x, y) => x + y).ToArray();
        var members = new[] { new ExchangeMember("r0", _r0.Address), new ExchangeMember("r1", _r1.Address) };
        var ports = new[] { _r0, _r1 };
        await Task.WhenAll(Enumerable.Range(0, 2).Select(p => Task.Factory.StartNew(
            () => new RingAllReduce(ports[p], Timeout).AllReduceSum(buffers[p], new ExchangeGroup(generation, step, p, members), 0, CancellationToken.None),
            TaskCreationOptions.LongRunning))).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(expected, buffers[0]);
        Assert.Equal(expected, buffers[1]);
    }

    private async Task<string> OneWarning(string fragment)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (_warnings.IsEmpty && DateTime.UtcNow < deadline) await Task.Delay(20);
        var warning = Assert.Single(_warnings);
        Assert.Contains("refused a connection from 127.0.0.1:", warning);
        Assert.Contains(fragment, warning);
        return warning;
    }

    public static TheoryData<Kind> Kinds() => new(Enum.GetValues<Kind>());

    [Theory]
    [MemberData(nameof(Kinds))]
    public async Task Garbage_is_dropped_and_logged_while_the_members_exchange(Kind kind)
    {
        await Exchange(generation: 2, step: 1);

        await Task.Run(() => DataPlaneGarbage.Send(PortOf(_r0.Address), kind, "r0", Timeout)).WaitAsync(TimeSpan.FromSeconds(30));

        await OneWarning(DataPlaneGarbage.Reason(kind));
        await Exchange(generation: 2, step: 2); // the links formed before are unharmed
        await Exchange(generation: 3, step: 3); // and new ones form as before
        Assert.Single(_warnings); // the members' own connections raised none
    }

    [Fact]
    public async Task A_peer_with_another_secret_is_refused_and_learns_only_that()
    {
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        socket.Connect("127.0.0.1", PortOf(_r0.Address));
        var refused = Assert.Throws<InvalidDataException>(() =>
            DataPlaneHandshake.Offer(socket, RandomNumberGenerator.GetBytes(32), new Hello(2, "r1", "r0")));
        Assert.Contains("refused the hello", refused.Message);
        var warning = await OneWarning("not signed with this job's data-plane secret");
        Assert.Contains("r1 -> r0 (generation 2", warning);
        await Exchange(generation: 2, step: 1);
    }

    [Fact]
    public async Task Only_proven_hellos_for_a_live_rank_and_generation_are_routed()
    {
        await Exchange(generation: 2, step: 1);
        foreach (var (hello, reason) in new[]
                 {
                     (new Hello(2, "r1", "r7"), "no rank r7 here"),
                     (new Hello(1, "r1", "r0"), "generation 1 is over (rank r0 is in generation 2)"),
                 })
        {
            using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
            socket.Connect("127.0.0.1", PortOf(_r0.Address));
            Assert.Throws<InvalidDataException>(() => DataPlaneHandshake.Offer(socket, _secret, hello));
            await OneWarning(reason);
            _warnings.Clear();
        }
        await Exchange(generation: 2, step: 2);
    }

    [Fact]
    public async Task Nothing_is_sent_to_a_listener_that_cannot_prove_the_secret()
    {
        // Something else listens where a member was: it speaks the protocol but holds no secret.
        using var impostor = new TcpListener(IPAddress.Loopback, 0);
        impostor.Start();
        var answered = Task.Run(() =>
        {
            using var socket = impostor.AcceptSocket();
            var challenge = new byte[DataPlaneHandshake.ChallengeSize];
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(challenge, Hello.Magic);
            System.Buffers.Binary.BinaryPrimitives.WriteUInt16LittleEndian(challenge.AsSpan(4), Hello.Version);
            socket.Send(challenge);
            var hello = new byte[4096];
            socket.Receive(hello);
            socket.Send(RandomNumberGenerator.GetBytes(DataPlaneHandshake.MacSize));
            Thread.Sleep(500);
        });
        var member = new ExchangeMember("r9", $"127.0.0.1:{((IPEndPoint)impostor.LocalEndpoint).Port}");
        var failure = Assert.Throws<ExchangeFailedException>(() => _r0.Outbound(5, member, DataChannel.RingAllReduce, Timeout, CancellationToken.None));
        Assert.Contains("does not hold this job's data-plane secret", failure.Message);
        await answered.WaitAsync(TimeSpan.FromSeconds(10));
    }

    /// <summary>
    /// A peer that holds the secret but sends a frame that breaks the rules: its exchange fails at
    /// once, nothing is read or allocated for the announced size, and the transport serves the next
    /// generation as before. (r2 is played by the test: a listener and a connection to r0.)
    /// </summary>
    [Theory]
    [InlineData(-1)]
    [InlineData(FrameHeader.MaxValues + 1)]
    [InlineData(int.MaxValue)]
    [InlineData(0)] // 0: the expected frame, cut short by EOF
    public async Task A_members_bad_frame_fails_its_exchange_and_nothing_else(int count)
    {
        using var r2Listener = new TcpListener(IPAddress.Loopback, 0);
        r2Listener.Start();
        var r2 = new ExchangeMember("r2", $"127.0.0.1:{((IPEndPoint)r2Listener.LocalEndpoint).Port}");
        var members = new[] { new ExchangeMember("r0", _r0.Address), r2 };
        var values = new float[10];
        var exchange = Task.Factory.StartNew(
            () => new RingAllReduce(_r0, Timeout).AllReduceSum(values, new ExchangeGroup(1, 1, 0, members), 0, CancellationToken.None),
            TaskCreationOptions.LongRunning);

        using var fromR0 = await r2Listener.AcceptSocketAsync().WaitAsync(TimeSpan.FromSeconds(10));
        await Task.Run(() => DataPlaneHandshake.Answer(fromR0, _secret, _ => null));
        using var toR0 = new Socket(SocketType.Stream, ProtocolType.Tcp);
        toR0.Connect("127.0.0.1", PortOf(_r0.Address));
        await Task.Run(() => DataPlaneHandshake.Offer(toR0, _secret, new Hello(1, "r2", "r0")));
        var (_, expectedCount) = RingSchedule.Chunk(values.Length, 2, RingSchedule.ReceiveIndex(RingAllReduce.ReduceScatter, 0, 0, 2));
        var header = new byte[FrameHeader.Size];
        new FrameHeader(1, 0, RingAllReduce.ReduceScatter, 0, 0, count == 0 ? expectedCount : count).Write(header);
        toR0.Send([.. header, .. new byte[8]]);
        if (count == 0) toR0.Shutdown(SocketShutdown.Send);

        var failure = await Assert.ThrowsAsync<ExchangeFailedException>(() => exchange.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Contains(count == 0 ? "link r2 -> r0 (generation 1) is gone" : $"sent a frame of {count} values (the limit is {FrameHeader.MaxValues}): refused", failure.Message);
        await Exchange(generation: 2, step: 2);
        Assert.Empty(_warnings);
    }

    public void Dispose() => _owned.ForEach(d => d.Dispose());
}
