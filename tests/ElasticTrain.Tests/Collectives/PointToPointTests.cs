using System.Collections.Concurrent;
using System.Diagnostics;
using System.Security.Cryptography;
using ElasticTrain.Collectives;
using ElasticTrain.Collectives.Transport;
using ElasticTrain.Pipeline;

namespace ElasticTrain.Tests.Collectives;

/// <summary>
/// Tensors between pipeline stages on the real data plane, laid out as <see cref="RingAllReduceTests"/>
/// lays out its ring: TCP between transports (as between processes), local links between ranks of
/// one transport, and both mixed.
/// </summary>
public sealed class PointToPointTests : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);
    private static readonly TimeSpan Long = TimeSpan.FromSeconds(60);
    private readonly List<IDisposable> _owned = [];
    private readonly byte[] _secret = RandomNumberGenerator.GetBytes(32);
    private readonly ConcurrentQueue<string> _warnings = new();

    /// <summary>TwoProcesses puts r0 and r1 in one process and the rest in another, so a chain has a local link and a TCP one.</summary>
    public enum Layout { TcpOnly, OneProcess, TwoProcesses }

    public enum Interruption { NewGeneration, Abort, Cancellation }

    private (RankPort[] Ports, ExchangeMember[] Members, TensorTransport[] Transports) Ranks(int n, Layout layout)
    {
        var transports = new Dictionary<int, TensorTransport>();
        TensorTransport TransportFor(int key)
        {
            if (!transports.TryGetValue(key, out var t))
            {
                t = new TensorTransport("127.0.0.1", _secret, warn: _warnings.Enqueue);
                _owned.Add(t);
                transports[key] = t;
            }
            return t;
        }
        var hosts = Enumerable.Range(0, n).Select(p => TransportFor(layout switch
        {
            Layout.TcpOnly => p,
            Layout.OneProcess => 0,
            _ => p < 2 ? 0 : 1,
        })).ToArray();
        var ports = hosts.Select((t, p) => t.Open($"r{p}")).ToArray();
        return (ports, ports.Select(p => new ExchangeMember(p.Rank, p.Address)).ToArray(), hosts);
    }

    private static Task Run(Action action) => Task.Factory.StartNew(action, TaskCreationOptions.LongRunning);

    private static StageMessage Forward(int microBatch, long generation = 1, long step = 1) => new(generation, step, PipelinePass.Forward, microBatch);

    private static StageMessage Backward(int microBatch, long generation = 1, long step = 1) => new(generation, step, PipelinePass.Backward, microBatch);

    /// <summary>What the first stage feeds forward and the last feeds backward: small integers and halves, exact in float32, as is every stage's +1.</summary>
    private static float Seed(StageMessage message, int i) => message.Pass == PipelinePass.Forward
        ? (i * 7 + message.MicroBatch * 13 + (int)message.Step) & 1023
        : ((i * 3 + message.MicroBatch * 17 + (int)message.Step) & 1023) + 0.5f;

    /// <summary>
    /// One stage's step under 1F1B: Forward(m) receives m's activations from the previous stage
    /// (the first stage makes them), "computes" (+1 on every value) and sends them to the next;
    /// Backward(m) does the same with gradients the other way. Every tensor received is checked
    /// value by value. No buffer is written after it is sent, so the sends are waited for once,
    /// at the end of the step, as a stage that keeps its activations for backward would.
    /// </summary>
    private static void RunStage(RankPort port, ExchangeMember[] chain, int stage, long step, int microBatches, int length)
    {
        int last = chain.Length - 1;
        var p2p = new PointToPoint(port, Timeout);
        var sent = new SendTracker();
        foreach (var action in PipelineSchedule.For(ScheduleKind.OneFOneB, chain.Length, microBatches, stage))
        {
            bool forward = action.Kind == PipelineActionKind.Forward;
            var message = forward ? Forward(action.MicroBatch, step: step) : Backward(action.MicroBatch, step: step);
            int from = forward ? stage - 1 : stage + 1, to = forward ? stage + 1 : stage - 1;
            var buffer = new float[length];
            if (from < 0 || from > last)
            {
                for (int i = 0; i < length; i++) buffer[i] = Seed(message, i);
            }
            else
            {
                p2p.Receive(chain[from].Rank, message, buffer, CancellationToken.None);
                int hops = forward ? stage : last - stage; // stages it went through, each adding 1
                for (int i = 0; i < length; i++)
                    if (buffer[i] != Seed(message, i) + hops)
                        throw new InvalidOperationException($"stage {stage}, {message}, value {i}: {buffer[i]} instead of {Seed(message, i) + hops}");
            }
            for (int i = 0; i < length; i++) buffer[i] += 1;
            if (to >= 0 && to <= last) p2p.Send(chain[to], message, buffer, sent, CancellationToken.None);
        }
        sent.WaitAll(Timeout);
    }

    public static TheoryData<int, int, int, Layout> Chains()
    {
        var data = new TheoryData<int, int, int, Layout>();
        foreach (var layout in Enum.GetValues<Layout>())
        {
            foreach (var length in new[] { 0, 1, 1000 }) data.Add(length, 4, 2, layout);
            // A frame and a quarter (20 MiB), with fewer micro-batches than stages.
            data.Add(PointToPoint.PartValues + PointToPoint.PartValues / 4, 2, 1, layout);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Chains))]
    public async Task A_three_stage_chain_passes_activations_forward_and_gradients_back_under_1F1B(int length, int microBatches, int steps, Layout layout)
    {
        var (ports, chain, _) = Ranks(3, layout);
        for (long step = 1; step <= steps; step++) // later steps reuse the links of the first
            await Task.WhenAll(Enumerable.Range(0, 3).Select(s => Run(() => RunStage(ports[s], chain, s, step, microBatches, length))))
                .WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Empty(_warnings);
    }

    [Theory]
    [InlineData(Layout.TcpOnly)]
    [InlineData(Layout.OneProcess)]
    public async Task The_ring_and_the_stages_share_a_pair_of_ranks_in_one_generation_without_taking_each_others_frames(Layout layout)
    {
        var (ports, members, _) = Ranks(2, layout);
        const int buckets = 4, ringLength = 3 * RingAllReduce.PartValues + 5;
        var rings = Enumerable.Range(0, 2).Select(p => Run(() =>
        {
            var ring = new RingAllReduce(ports[p], Timeout);
            for (int bucket = 0; bucket < buckets; bucket++)
            {
                var values = new float[ringLength];
                for (int i = 0; i < ringLength; i++) values[i] = (i + p + bucket) % 100;
                ring.AllReduceSum(values, new ExchangeGroup(1, 1, p, members), bucket, CancellationToken.None);
                for (int i = 0; i < ringLength; i++)
                    if (values[i] != (i + bucket) % 100 + (i + 1 + bucket) % 100)
                        throw new InvalidOperationException($"member {p}, bucket {bucket}, value {i}: {values[i]}");
            }
        }));
        // Meanwhile r0 and r1 are stages 0 and 1 of a pipeline: activations to r1, gradients back.
        var stages = Enumerable.Range(0, 2).Select(s => Run(() => RunStage(ports[s], members, s, step: 1, microBatches: 8, length: 100_000)));
        await Task.WhenAll([.. rings, .. stages]).WaitAsync(TimeSpan.FromSeconds(60));
    }

    [Theory]
    [InlineData(Layout.TcpOnly)]
    [InlineData(Layout.OneProcess)]
    public async Task A_stage_that_dies_mid_step_fails_the_receives_waiting_on_it_at_once_and_names_it(Layout layout)
    {
        var (ports, chain, transports) = Ranks(3, layout);
        var p2p = ports.Select(p => new PointToPoint(p, Long)).ToArray();
        var sent = ports.Select(_ => new SendTracker()).ToArray();
        // Micro-batch 0 goes through r0 -> r1 -> r2 and back, so every link is formed.
        p2p[0].Send(chain[1], Forward(0), new float[1000], sent[0], CancellationToken.None);
        p2p[1].Receive("r0", Forward(0), new float[1000], CancellationToken.None);
        p2p[1].Send(chain[2], Forward(0), new float[1000], sent[1], CancellationToken.None);
        p2p[2].Receive("r1", Forward(0), new float[1000], CancellationToken.None);
        p2p[2].Send(chain[1], Backward(0), new float[1000], sent[2], CancellationToken.None);
        p2p[1].Receive("r2", Backward(0), new float[1000], CancellationToken.None);
        p2p[1].Send(chain[0], Backward(0), new float[1000], sent[1], CancellationToken.None);
        p2p[0].Receive("r1", Backward(0), new float[1000], CancellationToken.None);

        var clock = Stopwatch.StartNew();
        var r1Waits = Run(() => p2p[1].Receive("r2", Backward(1), new float[1000], CancellationToken.None));
        var r0Waits = Run(() => p2p[0].Receive("r1", Backward(1), new float[1000], CancellationToken.None));
        await Task.Delay(200);
        if (layout == Layout.TcpOnly) transports[2].Dispose(); // the process of r2 is gone
        else ports[2].Dispose();                               // r2 stopped, its process lives on

        var failure = await Assert.ThrowsAsync<ExchangeFailedException>(() => r1Waits.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Contains("ActivationGradients link r2 -> r1 (generation 1)", failure.Message);
        // r1 closed its links in turn, so r0 upstream does not wait out its timeout either.
        var upstream = await Assert.ThrowsAsync<ExchangeFailedException>(() => r0Waits.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Contains("ActivationGradients link r1 -> r0 (generation 1)", upstream.Message);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"took {clock.Elapsed.TotalSeconds:0.0} s with a 60 s timeout");
    }

    [Theory]
    [InlineData(Layout.TcpOnly, false)]
    [InlineData(Layout.TcpOnly, true)]
    [InlineData(Layout.OneProcess, false)]
    [InlineData(Layout.OneProcess, true)]
    public async Task A_peer_that_never_sends_fails_the_receive_after_the_timeout_and_is_named(Layout layout, bool connected)
    {
        var (ports, chain, _) = Ranks(2, layout);
        if (connected)
        {
            // The handshake gets the usual time: on a loaded machine it may take more than 0.5 s.
            new PointToPoint(ports[0], Timeout).Send(chain[1], Forward(0), new float[10], new SendTracker(), CancellationToken.None);
            new PointToPoint(ports[1], Timeout).Receive("r0", Forward(0), new float[10], CancellationToken.None);
        }
        var receiver = new PointToPoint(ports[1], TimeSpan.FromMilliseconds(500));
        var clock = Stopwatch.StartNew();
        var failure = await Assert.ThrowsAsync<ExchangeFailedException>(() =>
            Run(() => receiver.Receive("r0", Forward(1), new float[10], CancellationToken.None)).WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Contains(connected ? "nothing from Activations link r0 -> r1 (generation 1) within 0.5 s" : "r0 did not connect to r1 within 0.5 s", failure.Message);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"took {clock.Elapsed.TotalSeconds:0.0} s");
    }

    public static TheoryData<Interruption, Layout, bool> Interruptions()
    {
        var data = new TheoryData<Interruption, Layout, bool>();
        foreach (var how in Enum.GetValues<Interruption>())
        {
            data.Add(how, Layout.TcpOnly, false); // still waiting for the peer to connect: no link involved
            data.Add(how, Layout.TcpOnly, true);
            data.Add(how, Layout.OneProcess, true);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Interruptions))]
    public async Task A_new_generation_an_abort_or_a_cancellation_cuts_a_waiting_receive_short(Interruption how, Layout layout, bool connected)
    {
        var (ports, chain, _) = Ranks(2, layout);
        var receiver = new PointToPoint(ports[1], Long);
        if (connected)
        {
            new PointToPoint(ports[0], Long).Send(chain[1], Forward(0), new float[10], new SendTracker(), CancellationToken.None);
            receiver.Receive("r0", Forward(0), new float[10], CancellationToken.None);
        }
        using var cancel = new CancellationTokenSource();
        var clock = Stopwatch.StartNew();
        var waiting = Run(() => receiver.Receive("r0", Forward(1), new float[10], cancel.Token));
        await Task.Delay(100);
        switch (how)
        {
            case Interruption.NewGeneration: ports[1].BeginGeneration(2); break;
            case Interruption.Cancellation: cancel.Cancel(); break;
            default:
                // An abort closes the links there are; one formed after it works. So it is repeated
                // until it meets the receive waiting, in case a loaded machine starts that late.
                while (!waiting.IsCompleted && clock.Elapsed < TimeSpan.FromSeconds(5))
                {
                    ports[1].Abort();
                    await Task.Delay(100);
                }
                break;
        }
        if (how == Interruption.Cancellation)
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting.WaitAsync(TimeSpan.FromSeconds(30)));
        else
            await Assert.ThrowsAsync<ExchangeFailedException>(() => waiting.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"took {clock.Elapsed.TotalSeconds:0.0} s with a 60 s timeout");
    }

    [Theory]
    [InlineData(Layout.TcpOnly)]
    [InlineData(Layout.OneProcess)]
    public async Task Tensors_of_an_earlier_generation_never_reach_a_later_one(Layout layout)
    {
        var (ports, chain, _) = Ranks(3, layout);
        var r0 = new PointToPoint(ports[0], Timeout);
        var r1 = new PointToPoint(ports[1], Timeout);
        var r2 = new PointToPoint(ports[2], Timeout);
        // Generation 1: r0 sends micro-batch 0 and nobody reads it before both ranks move on.
        r0.Send(chain[1], Forward(0, generation: 1), Enumerable.Repeat(1f, 10).ToArray(), new SendTracker(), CancellationToken.None);
        ports[0].BeginGeneration(2);
        ports[1].BeginGeneration(2);

        // r2 lags behind in generation 1: r1 refuses its link, so its tensor never arrives.
        var late = Assert.Throws<ExchangeFailedException>(() =>
            r2.Send(chain[1], Forward(0, generation: 1), Enumerable.Repeat(3f, 10).ToArray(), new SendTracker(), CancellationToken.None));
        Assert.Contains("refused", late.Message);

        var sent = new SendTracker();
        r0.Send(chain[1], Forward(0, generation: 2, step: 2), Enumerable.Repeat(2f, 10).ToArray(), sent, CancellationToken.None);
        var received = new float[10];
        await Run(() => r1.Receive("r0", Forward(0, generation: 2, step: 2), received, CancellationToken.None)).WaitAsync(TimeSpan.FromSeconds(30));
        sent.WaitAll(Timeout);
        Assert.Equal(Enumerable.Repeat(2f, 10), received);
        var over = Assert.Throws<ExchangeFailedException>(() => r1.Receive("r0", Forward(0, generation: 1), received, CancellationToken.None));
        Assert.Contains("generation 1 is over", over.Message);
    }

    [Theory]
    [InlineData(Layout.TcpOnly, true)]
    [InlineData(Layout.TcpOnly, false)]
    [InlineData(Layout.OneProcess, true)]
    [InlineData(Layout.OneProcess, false)]
    public async Task A_tensor_of_another_micro_batch_or_length_fails_the_receive_instead_of_landing_in_the_wrong_buffer(Layout layout, bool otherMicroBatch)
    {
        var (ports, chain, _) = Ranks(2, layout);
        new PointToPoint(ports[0], Timeout).Send(chain[1], Forward(otherMicroBatch ? 1 : 0), new float[otherMicroBatch ? 10 : 12], new SendTracker(), CancellationToken.None);
        var target = Enumerable.Repeat(-1f, 10).ToArray();
        var failure = await Assert.ThrowsAsync<ExchangeFailedException>(() =>
            Run(() => new PointToPoint(ports[1], Timeout).Receive("r0", Forward(0), target, CancellationToken.None)).WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Contains("Activations link r0 -> r1 (generation 1) sent", failure.Message);
        Assert.All(target, v => Assert.Equal(-1f, v)); // refused at the header: not a value was written
    }

    [Fact]
    public async Task Garbage_at_a_stages_port_is_dropped_and_logged_while_the_stages_carry_on()
    {
        var (ports, chain, _) = Ranks(2, Layout.TcpOnly);
        var sender = new PointToPoint(ports[0], Timeout);
        var receiver = new PointToPoint(ports[1], Timeout);
        var kinds = Enum.GetValues<DataPlaneGarbage.Kind>();
        var sent = new SendTracker();
        for (int m = 0; m < kinds.Length; m++)
        {
            var message = Forward(m);
            var received = new float[100];
            var receiving = Run(() => receiver.Receive("r0", message, received, CancellationToken.None));
            var port = int.Parse(ports[1].Address.Split(':')[1]);
            var kind = kinds[m];
            await Task.Run(() => DataPlaneGarbage.Send(port, kind, "r1", Timeout)).WaitAsync(TimeSpan.FromSeconds(30));
            var values = Enumerable.Range(0, 100).Select(i => (float)(i + m)).ToArray();
            sender.Send(chain[1], message, values, sent, CancellationToken.None);
            await receiving.WaitAsync(TimeSpan.FromSeconds(30));
            Assert.Equal(values, received);
        }
        sent.WaitAll(Timeout);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (_warnings.Count < kinds.Length && DateTime.UtcNow < deadline) await Task.Delay(20);
        Assert.Equal(kinds.Length, _warnings.Count); // one per stranger, none for the stages' own links
        foreach (var kind in kinds) Assert.Contains(_warnings, w => w.Contains(DataPlaneGarbage.Reason(kind)));
    }

    public void Dispose() => _owned.ForEach(d => d.Dispose());
}
