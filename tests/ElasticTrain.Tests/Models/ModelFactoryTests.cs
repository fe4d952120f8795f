using ElasticTrain.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace ElasticTrain.Tests.Models;

/// <summary>Runs alone: these tests observe the process-wide generator, which other test classes'
/// model construction would otherwise touch concurrently.</summary>
[CollectionDefinition(nameof(GlobalGeneratorCollection), DisableParallelization = true)]
public sealed class GlobalGeneratorCollection;

[Collection(nameof(GlobalGeneratorCollection))]
public class ModelFactoryTests
{
    private static readonly ModelSpec Small = ModelSpec.ForGpt(layers: 2, heads: 2, width: 32, block: 16);

    private static bool SameParameters(nn.Module a, nn.Module b) =>
        a.parameters().Zip(b.parameters()).All(pair => TestTensors.BitIdentical(pair.Item1, pair.Item2));

    [Fact]
    public async Task Same_seed_gives_bit_identical_parameters_even_when_built_concurrently_on_two_threads()
    {
        using var seven = ModelFactory.Create(Small, 7);
        using var eight = ModelFactory.Create(Small, 8);
        var references = new Dictionary<long, nn.Module>{ [7] = seven, [8] = eight };

        // Two threads build seed 7 while two others build seed 8, released together and repeatedly,
        // so an unsynchronized factory would interleave their draws from the global generator.
        const int Rounds = 10;
        using var start = new Barrier(4);
        bool BuildRepeatedly(long seed)
        {
            var allIdentical = true;
            for (var round = 0; round < Rounds; round++)
            {
                start.SignalAndWait();
                using var model = ModelFactory.Create(Small, seed);
                allIdentical &= SameParameters(model, references[seed]);
            }
            return allIdentical;
        }

        var results = await Task.WhenAll(new[] { 7L, 8L, 7L, 8L }
            .Select(seed => Task.Factory.StartNew(() => BuildRepeatedly(seed), TaskCreationOptions.LongRunning)));
        Assert.All(results, Assert.True);
    }

    [Fact]
    public void Different_seeds_give_different_parameters()
    {
        using var a = ModelFactory.Create(Small, 1);
        using var b = ModelFactory.Create(Small, 2);
        // Every randomly initialized tensor differs; LayerNorm's ones/zeros are the same by design.
        var differing = a.named_parameters().Zip(b.named_parameters())
            .Where(p => !TestTensors.BitIdentical(p.Item1.parameter, p.Item2.parameter))
            .Select(p => p.Item1.name)
            .ToHashSet();
        Assert.Contains("tok.weight", differing);
        Assert.Contains("blocks.1.qkv.weight", differing);
        Assert.Contains("head.weight", differing);
    }

    [Fact]
    public void Building_a_model_leaves_the_global_generator_as_it_was()
    {
        using var scope = NewDisposeScope();
        var before = random.get_rng_state();
        using var model = ModelFactory.Create(ModelSpec.ForMlp(8, 8), 42);
        Assert.True(TestTensors.BitIdentical(random.get_rng_state(), before));
    }
}
