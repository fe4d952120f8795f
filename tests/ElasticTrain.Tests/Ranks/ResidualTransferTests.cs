using ElasticTrain.Collectives;
using ElasticTrain.Collectives.Transport;
using ElasticTrain.Jobs;
using ElasticTrain.Ranks;
using ElasticTrain.Ranks.Compression;
using ElasticTrain.Training;
using static TorchSharp.torch;

namespace ElasticTrain.Tests.Ranks;

/// <summary>
/// Compression residuals by parameter name: what one part's buckets hold comes out by name and goes
/// into another part's buckets, cut differently, unchanged; taking residuals in adds them to what is
/// held, so a group's residuals still add up to what its sums have missed.
/// </summary>
public sealed class ResidualTransferTests : IDisposable
{
    private static readonly JobConfig Job = new("residuals", "gpt", 2, 2, 16, 8, GlobalBatch: 4, Steps: 10, 1e-3, 0.01, 3, "", 5);
    private readonly TensorTransport _transport = new("127.0.0.1", System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
    private readonly List<IDisposable> _owned = [];

    private (Replica Part, BucketExchange Exchange) Part(long bucketBytes, string compression = "topk:0.1")
    {
        var part = new Replica(Job, "hash", CPU, bucketBytes);
        var exchange = new BucketExchange(new RingAllReduce(_transport.Open($"r{_owned.Count}"), TimeSpan.FromSeconds(5)), "test", torchThreads: 1,
            CompressionSettings.Parse(compression));
        _owned.Add(part);
        _owned.Add(exchange);
        return (part, exchange);
    }

    private static Dictionary<string, float[]> Residuals(Replica part, int seed)
    {
        var random = new Random(seed);
        return part.GradientNames.Select((name, i) => (name, part.Gradients.RangeOf(i).Count))
            .ToDictionary(p => p.name, p => Enumerable.Range(0, p.Count).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray());
    }

    [Theory]
    [InlineData("topk:0.1")]
    [InlineData("powersgd:2")]
    public void Residuals_move_by_name_between_parts_cut_into_other_buckets(string compression)
    {
        var (small, smallExchange) = Part(bucketBytes: 2048, compression);
        var (whole, wholeExchange) = Part(bucketBytes: 0, compression);
        Assert.True(small.Gradients.Buckets.Count > 3);
        Assert.Single(whole.Gradients.Buckets);
        var residuals = Residuals(small, seed: 1);

        Assert.Equal(residuals.Count, ResidualTransfer.Absorb(small, smallExchange, residuals));
        var exported = ResidualTransfer.Export(small, smallExchange);
        Assert.Equal(residuals.Keys.Order(), exported.Keys.Order());
        foreach (var (name, values) in residuals) Assert.Equal(values, exported[name]);

        ResidualTransfer.Absorb(whole, wholeExchange, exported);
        var moved = ResidualTransfer.Export(whole, wholeExchange);
        foreach (var (name, values) in residuals) Assert.Equal(values, moved[name]);
    }

    [Fact]
    public void Taking_residuals_in_adds_them_to_those_held()
    {
        var (part, exchange) = Part(bucketBytes: 4096);
        var first = Residuals(part, seed: 1);
        var second = Residuals(part, seed: 2);
        ResidualTransfer.Absorb(part, exchange, first);
        ResidualTransfer.Absorb(part, exchange, second);
        var held = ResidualTransfer.Export(part, exchange);
        foreach (var (name, values) in first)
            Assert.Equal(values.Zip(second[name], (a, b) => a + b), held[name]);
    }

    [Fact]
    public void Only_the_names_asked_for_come_out_and_names_not_held_are_left_out()
    {
        var (part, exchange) = Part(bucketBytes: 4096);
        var residuals = Residuals(part, seed: 3);
        var asked = residuals.Keys.Where(n => n.StartsWith("blocks.0.", StringComparison.Ordinal)).ToHashSet();
        ResidualTransfer.Absorb(part, exchange, new Dictionary<string, float[]>(residuals) { ["blocks.9.fc.weight"] = [1f, 2f] });
        Assert.Equal(asked.Order(), ResidualTransfer.Export(part, exchange, asked).Keys.Order());
    }

    [Fact]
    public void A_residual_of_another_length_is_refused_and_a_compression_without_residuals_keeps_none()
    {
        var (part, exchange) = Part(bucketBytes: 4096);
        var name = part.GradientNames[0];
        var refused = Assert.Throws<InvalidOperationException>(() =>
            ResidualTransfer.Absorb(part, exchange, new Dictionary<string, float[]> { [name] = [1f] }));
        Assert.Contains(name, refused.Message);

        var (half, halfExchange) = Part(bucketBytes: 4096, "fp16");
        ResidualTransfer.Absorb(half, halfExchange, Residuals(half, seed: 4));
        Assert.Empty(ResidualTransfer.Export(half, halfExchange));
    }

    [Fact]
    public void Residual_sections_travel_beside_named_state_and_come_apart_again()
    {
        var state = new Dictionary<string, byte[]> { ["format"] = [1, 2], ["parameter/a"] = [3] };
        var residuals = new Dictionary<string, float[]> { ["a"] = [1.5f, -2f], ["b"] = [float.Epsilon] };
        var (back, moved) = ResidualTransfer.Split(state.Concat(ResidualTransfer.ToSections(residuals)).ToDictionary());
        Assert.Equal(state.Keys.Order(), back.Keys.Order());
        Assert.Equal(residuals["a"], moved["a"]);
        Assert.Equal(residuals["b"], moved["b"]);
    }

    public void Dispose()
    {
        foreach (var owned in _owned) owned.Dispose();
        _transport.Dispose();
    }
}
