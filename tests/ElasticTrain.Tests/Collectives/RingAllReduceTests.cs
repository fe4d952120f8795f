using System.Diagnostics;
using System.Net.Sockets;
using ElasticTrain.Collectives;
using ElasticTrain.Collectives.Transport;

namespace ElasticTrain.Tests.Collectives;

/// <summary>
/// The ring all-reduce on the real data plane: TCP between transports (as between processes),
/// shared memory between ranks of one transport, and both mixed.
/// </summary>
public sealed class RingAllReduceTests : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);
    private readonly List<IDisposable> _owned = [];
    private readonly byte[] _secret = System.Security.Cryptography.RandomNumberGenerator.GetBytes(32);

    public enum Layout { TcpOnly, OneProcess, TwoProcesses }

    /// <summary>n ranks, each with a port on a transport chosen by <paramref name="layout"/>.</summary>
    private (RankPort[] Ports, ExchangeMember[] Members) Ring(int n, Layout layout)
    {
        var transports = new Dictionary<int, TensorTransport>();
        TensorTransport TransportFor(int key)
        {
            if (!transports.TryGetValue(key, out var t)) { t = new TensorTransport("127.0.0.1", _secret); _owned.Add(t); transports[key] = t; }
            return t;
        }
        var ports = Enumerable.Range(0, n).Select(p => TransportFor(layout switch
        {
            Layout.TcpOnly => p,
            Layout.OneProcess => 0,
            _ => p % 2,
        }).Open($"r{p}")).ToArray();
        return (ports, ports.Select(p => new ExchangeMember(p.Rank, p.Address)).ToArray());
    }

    private static float[][] RandomBuffers(int n, int length, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => Enumerable.Range(0, length).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray()).ToArray();
    }

    private static Task[] RunAll(RankPort[] ports, ExchangeMember[] members, float[][] buffers, long generation, long step, int bucket, TimeSpan timeout) =>
        Enumerable.Range(0, ports.Length).Select(p => Task.Factory.StartNew(
            () => new RingAllReduce(ports[p], timeout).AllReduceSum(buffers[p], new ExchangeGroup(generation, step, p, members), bucket, CancellationToken.None),
            TaskCreationOptions.LongRunning)).ToArray();

    public static TheoryData<int, int, Layout> Shapes()
    {
        var data = new TheoryData<int, int, Layout>();
        foreach (var layout in Enum.GetValues<Layout>())
            foreach (var n in new[] { 1, 2, 3, 4 })
                foreach (var length in new[] { 0, 1, 3, 10, 1001 })
                    data.Add(n, length, layout);
        data.Add(2, 3 * RingAllReduce.PartValues + 5, Layout.TcpOnly);     // chunks travel in several parts
        data.Add(3, 2 * RingAllReduce.PartValues * 3 + 2, Layout.TwoProcesses);
        data.Add(4, 2 * RingAllReduce.PartValues * 4 + 3, Layout.OneProcess);
        return data;
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public async Task Every_member_ends_with_the_element_wise_sum(int n, int length, Layout layout)
    {
        var (ports, members) = Ring(n, layout);
        var buffers = RandomBuffers(n, length, seed: n * 1000 + length);
        var expected = Enumerable.Range(0, length).Select(i => buffers.Sum(b => (double)b[i])).ToArray();

        await Task.WhenAll(RunAll(ports, members, buffers, generation: 1, step: 1, bucket: 0, Timeout)).WaitAsync(TimeSpan.FromSeconds(60));

        for (int p = 0; p < n; p++)
            for (int i = 0; i < length; i++)
                Assert.True(Math.Abs(buffers[p][i] - expected[i]) <= 1e-5, $"member {p} element {i}: {buffers[p][i]} vs {expected[i]}");
        // Every member holds the very same floats, not merely close ones: replicas must not drift apart.
        for (int p = 1; p < n; p++) Assert.Equal(buffers[0], buffers[p]);
    }

    [Theory]
    [InlineData(Layout.TcpOnly)]
    [InlineData(Layout.TwoProcesses)]
    public async Task Buckets_and_steps_follow_each_other_on_the_same_links(Layout layout)
    {
        const int n = 3;
        var (ports, members) = Ring(n, layout);
        for (int step = 1; step <= 3; step++)
        {
            for (int bucket = 0; bucket < 3; bucket++)
            {
                var buffers = RandomBuffers(n, 500 + bucket, seed: step * 10 + bucket);
                var expected = Enumerable.Range(0, buffers[0].Length).Select(i => buffers.Sum(b => (double)b[i])).ToArray();
                await Task.WhenAll(RunAll(ports, members, buffers, 1, step, bucket, Timeout)).WaitAsync(TimeSpan.FromSeconds(30));
                for (int i = 0; i < expected.Length; i++) Assert.Equal(expected[i], buffers[n - 1][i], 1e-5);
            }
        }
        // A new generation re-forms the links and works the same.
        var again = RandomBuffers(n, 64, seed: 99);
        var sum = Enumerable.Range(0, 64).Select(i => again.Sum(b => (double)b[i])).ToArray();
        await Task.WhenAll(RunAll(ports, members, again, generation: 2, step: 4, bucket: 0, Timeout)).WaitAsync(TimeSpan.FromSeconds(30));
        for (int i = 0; i < 64; i++) Assert.Equal(sum[i], again[0][i], 1e-5);
    }

    [Fact]
    public async Task Members_that_disagree_on_the_buffer_size_fail_instead_of_mixing_data()
    {
        var (ports, members) = Ring(2, Layout.TcpOnly);
        var buffers = new[] { new float[10], new float[12] };
        var runs = RunAll(ports, members, buffers, 1, 1, 0, Timeout);
        foreach (var run in runs)
            await Assert.ThrowsAsync<ExchangeFailedException>(() => run.WaitAsync(TimeSpan.FromSeconds(30)));
    }

    [Fact]
    public async Task A_peer_that_dies_mid_exchange_fails_the_others_well_before_the_timeout()
    {
        // r2 is a process that connects, sends half a frame and dies: its sockets close.
        var (ports, members) = Ring(2, Layout.TcpOnly);
        var dead = new TcpListener(System.Net.IPAddress.Loopback, 0);
        dead.Start();
        _owned.Add(new Disposable(dead.Stop));
        var deadMember = new ExchangeMember("r2", $"127.0.0.1:{((System.Net.IPEndPoint)dead.LocalEndpoint).Port}");
        var ring = new[] { members[0], members[1], deadMember };
        var buffers = RandomBuffers(3, 3 * RingAllReduce.PartValues, seed: 5);
        var longTimeout = TimeSpan.FromSeconds(60);
        var clock = Stopwatch.StartNew();
        var runs = Enumerable.Range(0, 2).Select(p => Task.Factory.StartNew(
            () => new RingAllReduce(ports[p], longTimeout).AllReduceSum(buffers[p], new ExchangeGroup(1, 1, p, ring), 0, CancellationToken.None),
            TaskCreationOptions.LongRunning)).ToArray();

        using (var socket = new Socket(SocketType.Stream, ProtocolType.Tcp))
        {
            socket.Connect("127.0.0.1", int.Parse(members[0].Address.Split(':')[1]));
            DataPlaneHandshake.Offer(socket, _secret, new Hello(1, "r2", "r0"));
            var header = new byte[FrameHeader.Size];
            new FrameHeader(1, 0, RingAllReduce.ReduceScatter, 0, 0, RingAllReduce.PartValues).Write(header);
            socket.Send(header);
            socket.Send(new byte[1000]); // part of the first frame's values, then death
            using var fromR1 = await dead.AcceptSocketAsync().WaitAsync(TimeSpan.FromSeconds(30));
            await Task.Delay(200);
        }

        foreach (var run in runs)
            await Assert.ThrowsAsync<ExchangeFailedException>(() => run.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(15), $"took {clock.Elapsed.TotalSeconds:0.0} s with a 60 s timeout");
    }

    [Fact]
    public async Task A_silent_peer_fails_the_exchange_after_the_timeout()
    {
        var (ports, members) = Ring(2, Layout.TcpOnly);
        var clock = Stopwatch.StartNew();
        var lonely = Task.Factory.StartNew(
            () => new RingAllReduce(ports[0], TimeSpan.FromMilliseconds(500)).AllReduceSum(new float[30], new ExchangeGroup(1, 1, 0, members), 0, CancellationToken.None),
            TaskCreationOptions.LongRunning);
        await Assert.ThrowsAsync<ExchangeFailedException>(() => lonely.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task Cancelling_unblocks_a_waiting_exchange_at_once()
    {
        var (ports, members) = Ring(2, Layout.TwoProcesses);
        using var cancel = new CancellationTokenSource();
        var waiting = Task.Factory.StartNew(
            () => new RingAllReduce(ports[0], TimeSpan.FromSeconds(60)).AllReduceSum(new float[30], new ExchangeGroup(1, 1, 0, members), 0, cancel.Token),
            TaskCreationOptions.LongRunning);
        await Task.Delay(300);
        cancel.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting.WaitAsync(TimeSpan.FromSeconds(10)));
    }

    private sealed class Disposable(Action dispose) : IDisposable
    {
        public void Dispose() => dispose();
    }

    public void Dispose() => _owned.ForEach(d => d.Dispose());
}
