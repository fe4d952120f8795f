using System.Collections.Concurrent;
using ElasticTrain.Jobs;
using ElasticTrain.Models;

namespace ElasticTrain.Ranks;

/// <summary>
/// The parameter names of each pipeline layer of a model, by which state moves between ranks and
/// copies: read once per process and spec from the model itself (built on the CPU and dropped, a
/// few milliseconds even for the default model), so they can never disagree with it.
/// </summary>
public static class LayerNames
{
    private static readonly ConcurrentDictionary<ModelSpec, IReadOnlyList<IReadOnlyList<string>>> Known = new();

    /// <summary>The names of the parameters of <paramref name="layers"/>, in layer order.</summary>
    public static IReadOnlyList<string> Of(ModelSpec spec, LayerRange layers)
    {
        var all = Known.GetOrAdd(spec, s =>
        {
            using var model = ModelFactory.Create(s, seed: 0);
            return [.. ((ILayeredModel)model).Layers.Select(l => l.ParameterNames)];
        });
        if (layers.End > all.Count)
            throw new ArgumentException($"the model has {all.Count} pipeline layers, not {layers}", nameof(layers));
        return [.. all.Skip(layers.First).Take(layers.Count).SelectMany(names => names)];
    }
}
