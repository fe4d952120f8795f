using ElasticTrain.Collectives;
using ElasticTrain.Collectives.Transport;
using ElasticTrain.Data;
using ElasticTrain.Jobs;
using ElasticTrain.Ranks;

namespace ElasticTrain.Tests.Ranks;

/// <summary>
/// Exchanging gradients bucket by bucket during backward must give the update that exchanging the
/// whole gradient after backward gives. Three replicas (so the order of the sums differs between
/// the two ways), a GPT with several stages, buckets small enough to cut through every stage.
/// </summary>
public sealed class BucketedExchangeTests : IDisposable
{
    private const int Members = 3;
    private static readonly JobConfig Job = new("bucket-test", "gpt", Layers: 3, Heads: 2, Width: 32, Block: 16,
        GlobalBatch: 6, Steps: 10, LearningRate: 1e-3, WeightDecay: 0.01, Seed: 5, DataPath: "", CheckpointEvery: 100);

    private readonly WindowDataset _dataset = new(Corpus.Load(TinyCorpus.Path_), Job.Block + 1);
    private readonly TensorTransport _transport = new("127.0.0.1", System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
    private int _rings;

    /// <summary>Three replicas with the given bucket size, on their own ring, at <paramref name="state"/> if given.</summary>
    private sealed class Ring(Replica[] replicas, BucketExchange[] exchanges, ExchangeMember[] members) : IDisposable
    {
        public Replica[] Replicas => replicas;

        public void Step(WindowDataset dataset, long step)
        {
            var ids = new EpochSchedule(Job.Seed, dataset.Count, Job.GlobalBatch).SampleIds(step, 0, Job.GlobalBatch);
            Parallel.For(0, Members, new ParallelOptions { MaxDegreeOfParallelism = Members }, p =>
            {
                var mine = ids.Skip(p * 2).Take(2).ToArray();
                replicas[p].Exchange(step, dataset.ReadWindows(mine), mine, exchanges[p], new ExchangeGroup(1, step, p, members), CancellationToken.None);
            });
        }

        public void Dispose()
        {
            foreach (var e in exchanges) e.Dispose();
            foreach (var r in replicas) r.Dispose();
        }
    }

    private Ring NewRing(long bucketBytes, IReadOnlyDictionary<string, byte[]>? state, long stateStep)
    {
        int ring = _rings++;
        var ports = Enumerable.Range(0, Members).Select(p => _transport.Open($"ring{ring}/r{p}")).ToArray();
        var replicas = ports.Select(_ => new Replica(Job, "hash", TorchSharp.torch.CPU, bucketBytes)).ToArray();
        if (state is not null) foreach (var r in replicas) r.ImportState(state, stateStep);
        var exchanges = ports.Select(p => new BucketExchange(new RingAllReduce(p, TimeSpan.FromSeconds(30)), p.Rank, torchThreads: 1)).ToArray();
        return new Ring(replicas, exchanges, ports.Select(p => new ExchangeMember(p.Rank, p.Address)).ToArray());
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public void Bucketed_exchange_during_backward_gives_the_gradient_of_one_exchange_after_backward(long step)
    {
        // Both ways start the compared step from the very same state.
        IReadOnlyDictionary<string, byte[]>? state = null;
        if (step > 1)
        {
            using var before = NewRing(bucketBytes: 0, null, 0);
            for (long s = 1; s < step; s++)
            {
                before.Step(_dataset, s);
                foreach (var r in before.Replicas) r.Apply(s);
            }
            state = before.Replicas[0].ExportState();
        }

        using var whole = NewRing(bucketBytes: 0, state, step - 1);
        using var bucketed = NewRing(bucketBytes: 4096, state, step - 1);
        whole.Step(_dataset, step);
        bucketed.Step(_dataset, step);

        var a = whole.Replicas[0].ExchangedGradient();
        var b = bucketed.Replicas[0].ExchangedGradient();
        Assert.Equal(a.Length, b.Length);
        Assert.Contains(a, g => g != 0);
        var worst = a.Zip(b, (x, y) => Math.Abs(x - y) / Job.GlobalBatch).Max();
        Assert.True(worst <= 1e-6, $"largest mean-gradient difference {worst:g3}");

        // Within each ring every replica applies the very same update.
        foreach (var ring in new[] { whole, bucketed })
        {
            foreach (var r in ring.Replicas) r.Apply(step);
            var first = ring.Replicas[0].ParameterValues();
            foreach (var r in ring.Replicas) Assert.Equal(first, r.ParameterValues());
        }
    }

    public void Dispose() => _transport.Dispose();
}
