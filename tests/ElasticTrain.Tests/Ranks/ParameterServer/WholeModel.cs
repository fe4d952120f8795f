using System.Runtime.InteropServices;
using ElasticTrain.Checkpointing;
using ElasticTrain.ParameterServer;
using ElasticTrain.Ranks;
using ElasticTrain.Ranks.Optimization;
using ElasticTrain.Ranks.ParameterServer;
using ElasticTrain.Tests.ParameterServer;
using ElasticTrain.Training;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ElasticTrain.Tests.Ranks.ParameterServer;

/// <summary>
/// The MLP of <see cref="ShardPlanTests.Mlp"/> as one model: its parameters, seeded, each with a
/// gradient to overwrite, and one optimizer over them. What parameter shards are checked against,
/// and where their starting state comes from. Its gradient helpers also serve another model's
/// parameters, given as shapes in the model's order.
/// </summary>
internal sealed class WholeModel : IDisposable
{
    private readonly double _learningRate;

    public WholeModel(OptimizerSettings settings, double weightDecay, double learningRate)
    {
        _learningRate = learningRate;
        var generator = new Generator(17);
        Parameters = [.. ShardPlanTests.Mlp.Select(p => new Parameter(randn([.. p.Shape], generator: generator)))];
        foreach (var parameter in Parameters)
        {
            using var seed = parameter.sum();
            seed.backward();
        }
        Optimizer = PartOptimizer.Create(settings, weightDecay, Parameters);
    }

    public Parameter[] Parameters { get; }

    public PartOptimizer Optimizer { get; }

    /// <summary>Gives each parameter its gradient and steps.</summary>
    public void Step(float[][] gradients)
    {
        foreach (var (parameter, gradient) in Parameters.Zip(gradients))
        {
            using var grad = parameter.grad!;
            gradient.CopyTo(MemoryMarshal.Cast<byte, float>(grad.bytes));
        }
        Optimizer.Step(_learningRate);
    }

    public NamedState Export()
    {
        using var scope = NewDisposeScope();
        return new NamedState(ShardPlanTests.Mlp.Zip(Parameters, (shape, p) => ModelState.StateOf(shape.Name, p, Optimizer)));
    }

    public void Dispose()
    {
        Optimizer.Dispose();
        foreach (var parameter in Parameters) parameter.Dispose();
    }

    /// <summary>Seeded gradients for <paramref name="model"/> (null: the MLP), one array per parameter, each value in [-1, 1).</summary>
    public static float[][] Gradients(Random random, IReadOnlyList<ParameterShape>? model = null) =>
        [.. (model ?? ShardPlanTests.Mlp).Select(p => Enumerable.Range(0, (int)p.Elements).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray())];

    /// <summary>Each of <paramref name="pieces"/>' rows out of the gradients of <paramref name="model"/> (null: the MLP).</summary>
    public static float[][] PieceGradients(IReadOnlyList<ShardPiece> pieces, float[][] whole, IReadOnlyList<ParameterShape>? model = null) =>
        [.. pieces.Select(p => whole[(model ?? ShardPlanTests.Mlp).ToList().FindIndex(s => s.Name == p.Name)].AsSpan((int)p.FirstElement, (int)p.Elements).ToArray())];

    /// <summary>Each of the shard's pieces' rows out of the gradients of <paramref name="model"/> (null: the MLP).</summary>
    public static float[][] PieceGradients(ShardOptimizer shard, float[][] whole, IReadOnlyList<ParameterShape>? model = null) =>
        PieceGradients(shard.Pieces, whole, model);
}
