using System.Runtime.InteropServices;
using ElasticTrain.Checkpointing;
using ElasticTrain.Jobs;
using ElasticTrain.ParameterServer;
using ElasticTrain.Ranks;
using ElasticTrain.Ranks.Optimization;
using ElasticTrain.Ranks.ParameterServer;
using ElasticTrain.Tests.ParameterServer;
using ElasticTrain.Tests.Support;
using ElasticTrain.Training;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ElasticTrain.Tests.Ranks.ParameterServer;

/// <summary>
/// Three shards of a small MLP, its first matrix split by rows (one piece a single row), step for
/// step give the values and optimizer state one optimizer over the whole parameters gives, within
/// 1e-6, for every elementwise rule, with and without global-norm clipping. Weight decay exempts
/// 1-D parameters, so a row slice that lost its second dimension would show.
/// </summary>
[Collection(nameof(TorchThreadsCollection))]
public class ShardOptimizerTests
{
    private const double WeightDecay = 0.1;
    private const double LearningRate = 0.05;
    private const float Tolerance = 1e-6f;

    public static TheoryData<string, int> Rules => new()
    {
        { "adamw", 0 }, { "adamw", 2 }, { "adam", 2 }, { "sgd", 0 }, { "sgd", 2 }, { "adagrad", 2 }, { "rmsprop", 2 },
    };

    private static OptimizerSettings Settings(string rule) => rule switch
    {
        // Decay exempts 1-D parameters: a row slice must stay 2-D to be decayed as its matrix is.
        "sgd" => new(OptimizerKind.Sgd, Momentum: 0.9, Nesterov: true, DecayBiasesAndNorms: false),
        "rmsprop" => new(OptimizerKind.RmsProp, Momentum: 0.5, Centered: true, DecayBiasesAndNorms: false),
        _ => new(OptimizerSettings.Names[rule], DecayBiasesAndNorms: false),
    };

    private static List<ShardOptimizer> Shards(ShardPlan plan, NamedState state, OptimizerSettings settings) =>
        [.. Enumerable.Range(0, plan.Shards).Select(s => new ShardOptimizer(plan.PiecesOf(s), state, settings, WeightDecay))];

    [Theory]
    [MemberData(nameof(Rules))]
    public void Shards_of_a_split_model_update_it_as_one_optimizer_over_the_whole_does(string rule, int stepsBefore)
    {
        var settings = Settings(rule);
        var random = new Random(23);
        using var whole = new WholeModel(settings, WeightDecay, LearningRate);
        for (var step = 0; step < stepsBefore; step++) whole.Step(WholeModel.Gradients(random));

        var plan = ShardPlan.Balanced(ShardPlanTests.Mlp, 3);
        Assert.Equal(3, plan.HoldersOf("fc1.weight").Count);
        var shards = Shards(plan, whole.Export(), settings);
        try
        {
            for (var step = 0; step < 4; step++)
            {
                var gradients = WholeModel.Gradients(random);
                whole.Step(gradients);
                foreach (var shard in shards) shard.Apply(WholeModel.PieceGradients(shard, gradients), LearningRate);
            }
            AssertClose(whole.Export(), PieceState.Assemble(plan, shards.SelectMany(s => s.Export())));
        }
        finally
        {
            foreach (var shard in shards) shard.Dispose();
        }
    }

    [Fact]
    public void Clipping_by_the_sum_of_the_shards_squares_is_the_whole_models_clipping()
    {
        var settings = Settings("adamw");
        var job = new JobConfig("ps", "mlp", Layers: 1, Heads: 1, Width: 8, Block: 4, GlobalBatch: 4, Steps: 10,
            LearningRate: LearningRate, WeightDecay: WeightDecay, Seed: 1, DataPath: "", CheckpointEvery: 100);
        var recipe = new TrainingRecipe(settings, LearningRateSchedule.Constant, ClipNorm: 0.5);
        using var whole = new WholeModel(settings, WeightDecay, LearningRate);
        using var update = new UpdateRule(job, recipe, whole.Parameters);
        var buffer = new GradientBuffer([whole.Parameters], bucketValues: 0);
        var plan = ShardPlan.Balanced(ShardPlanTests.Mlp, 3);
        var shards = Shards(plan, Export(whole.Parameters, update.Optimizer), settings);
        try
        {
            var random = new Random(29);
            for (var step = 1; step <= 3; step++)
            {
                var gradients = WholeModel.Gradients(random);
                // The buffer holds the sum over the batch; times 4 is exact in float.
                gradients.SelectMany(g => g).Select(v => v * job.GlobalBatch).ToArray().CopyTo(buffer.Values, 0);
                var squares = update.Squares(buffer);
                update.Apply(step, buffer, squares);

                var pieces = shards.Select(s => WholeModel.PieceGradients(s, gradients)).ToList();
                var shardSquares = shards.Zip(pieces, (s, g) => s.Squares(g)).Sum();
                Assert.Equal(squares, shardSquares, 1e-9 * squares);
                var coefficient = UpdateRule.ClipCoefficient(Math.Sqrt(shardSquares), recipe.ClipNorm);
                Assert.True(coefficient < 0.5, $"the test means to clip, and the coefficient is {coefficient}");
                foreach (var (shard, gradient) in shards.Zip(pieces)) shard.Apply(gradient, LearningRate, coefficient);
            }
            AssertClose(Export(whole.Parameters, update.Optimizer), PieceState.Assemble(plan, shards.SelectMany(s => s.Export())));
        }
        finally
        {
            foreach (var shard in shards) shard.Dispose();
        }
    }

    [Fact]
    public void A_one_row_slice_keeps_both_dimensions_and_a_shard_gives_what_it_holds()
    {
        using var whole = new WholeModel(Settings("adamw"), WeightDecay, LearningRate);
        var state = whole.Export();
        var plan = ShardPlan.Balanced(ShardPlanTests.Mlp, 3);
        var (shardIndex, piece) = plan.HoldersOf("fc1.weight").Single(h => h.Piece.Rows == 1);
        using var shard = new ShardOptimizer(plan.PiecesOf(shardIndex), state, Settings("adamw"), WeightDecay);
        var at = shard.Pieces.ToList().IndexOf(piece);
        var exported = shard.Export()[at];
        Assert.Equal([1L, 8], exported.State.Value.Shape);
        Assert.All(exported.State.Slots, s => Assert.Equal([1L, 8], s.Tensor.Shape));
        Assert.Equal(Floats(state["fc1.weight"].Value).AsSpan(39 * 8, 8).ToArray(), shard.Values(at));
        Assert.Equal(Floats(exported.State.Value), shard.Values(at));
    }

    /// <summary>
    /// LAMB's trust ratio is a whole tensor's: shards holding rows of fc1.weight each measure their
    /// rows' norms, the sums make the ratios, and every shard applies at them; together they step as
    /// one LAMB over the whole model (clipped here, so the coefficient must reach the measure too).
    /// A shard's own rows alone would give another ratio: the test would see it.
    /// </summary>
    [Fact]
    public void Lamb_shards_step_as_one_lamb_at_the_trust_ratios_their_norms_add_up_to()
    {
        const double clip = 0.7;
        var settings = new OptimizerSettings(OptimizerKind.Lamb, DecayBiasesAndNorms: false);
        var random = new Random(31);
        using var whole = new WholeModel(settings, WeightDecay, LearningRate);
        for (var step = 0; step < 2; step++) whole.Step(WholeModel.Gradients(random));
        var plan = ShardPlan.Balanced(ShardPlanTests.Mlp, 3);
        var shards = Shards(plan, whole.Export(), settings);
        try
        {
            Assert.All(shards, s => Assert.True(s.NeedsTrustRatios));
            for (var step = 0; step < 4; step++)
            {
                var gradients = WholeModel.Gradients(random);
                whole.Step([.. gradients.Select(g => g.Select(v => v * (float)clip).ToArray())]);
                var pieces = shards.Select(s => WholeModel.PieceGradients(s, gradients)).ToList();
                var norms = shards.Zip(pieces, (s, g) => s.UpdateNorms(g, clip)).ToList();
                var ratios = TrustRatios.Of(norms.SelectMany(n => n));
                Assert.Equal(ShardPlanTests.Mlp.Select(p => p.Name).Order(), ratios.Select(r => r.Parameter).Order());
                var own = TrustRatios.Of(norms[plan.HoldersOf("fc1.weight")[0].Shard].Where(n => n.Parameter == "fc1.weight")).Single().Ratio;
                var all = ratios.Single(r => r.Parameter == "fc1.weight").Ratio;
                Assert.True(Math.Abs(own - all) > 1e-3 * all, $"one shard's rows give ratio {own}, the whole tensor {all}: the test cannot tell them apart");
                foreach (var (shard, gradient) in shards.Zip(pieces)) shard.Apply(gradient, LearningRate, clip, ratios);
            }
            AssertClose(whole.Export(), PieceState.Assemble(plan, shards.SelectMany(s => s.Export())));
            Assert.Throws<ArgumentException>(() => shards[0].Apply(WholeModel.PieceGradients(shards[0], WholeModel.Gradients(random)), LearningRate));
        }
        finally
        {
            foreach (var shard in shards) shard.Dispose();
        }
    }

    [Fact]
    public void State_that_does_not_fit_the_pieces_and_gradients_that_do_not_fit_the_shard_are_refused()
    {
        using var whole = new WholeModel(Settings("adamw"), WeightDecay, LearningRate);
        var state = whole.Export();
        var plan = ShardPlan.Balanced(ShardPlanTests.Mlp, 3);
        var pieces = plan.PiecesOf(2); // fc1.weight[0,22) fc2.bias

        var missing = new NamedState(state.Names.Where(n => n != "fc2.bias").Select(n => state[n]));
        Assert.Contains("no parameter 'fc2.bias'", Assert.Throws<CheckpointException>(() => new ShardOptimizer(pieces, missing, Settings("adamw"), WeightDecay)).Message);
        var reshaped = new NamedState(state.Names.Select(n => n == "fc1.weight" ? state[n] with { Value = state[n].Value with { Shape = [8, 40] } } : state[n]));
        Assert.Contains("'fc1.weight'", Assert.Throws<CheckpointException>(() => new ShardOptimizer(pieces, reshaped, Settings("adamw"), WeightDecay)).Message);
        Assert.Contains("another optimizer", Assert.Throws<CheckpointException>(() => new ShardOptimizer(pieces, state, Settings("sgd"), WeightDecay)).Message);
        Assert.Contains("at least one piece", Assert.Throws<ArgumentException>(() => new ShardOptimizer([], state, Settings("adamw"), WeightDecay)).Message);

        using var shard = new ShardOptimizer(pieces, state, Settings("adamw"), WeightDecay);
        Assert.Contains("1 gradients for a shard of 2 pieces", Assert.Throws<ArgumentException>(() => shard.Apply([new float[176]], LearningRate)).Message);
        Assert.Contains("holds 5 values, not its 4", Assert.Throws<ArgumentException>(() => shard.Apply([new float[176], new float[5]], LearningRate)).Message);
        Assert.Contains("not in (0, 1]", Assert.Throws<ArgumentException>(() => shard.Apply([new float[176], new float[4]], LearningRate, 0)).Message);
    }

    [Fact]
    public void Pieces_that_do_not_make_up_the_plan_do_not_assemble()
    {
        using var whole = new WholeModel(Settings("adamw"), WeightDecay, LearningRate);
        var state = whole.Export();
        var plan = ShardPlan.Balanced(ShardPlanTests.Mlp, 3);
        var all = Enumerable.Range(0, 3).SelectMany(s => plan.PiecesOf(s)).Select(p => PieceState.Slice(p, state[p.Name])).ToList();
        Assert.True(PieceState.Assemble(plan, all).Names.All(n => Floats(state[n].Value).SequenceEqual(Floats(PieceState.Assemble(plan, all)[n].Value))));

        Assert.Contains("is missing", Assert.Throws<ArgumentException>(() => PieceState.Assemble(plan, all.Skip(1))).Message);
        Assert.Contains("given twice", Assert.Throws<ArgumentException>(() => PieceState.Assemble(plan, [.. all, all[0]])).Message);
        var foreign = PieceState.Slice(new ShardPiece(ShardPlanTests.Mlp[0], 0, 1), state["fc1.weight"]);
        Assert.Contains("not one of the plan's", Assert.Throws<ArgumentException>(() => PieceState.Assemble(plan, [.. all, foreign])).Message);
        var odd = all.Select(p => p.Piece.ToString() == "fc1.weight[22,39)" ? p with { State = p.State with { Step = 5 } } : p);
        Assert.Contains("disagree", Assert.Throws<ArgumentException>(() => PieceState.Assemble(plan, odd)).Message);
    }

    private static NamedState Export(IReadOnlyList<Parameter> parameters, PartOptimizer optimizer)
    {
        using var scope = NewDisposeScope();
        return new NamedState(ShardPlanTests.Mlp.Zip(parameters, (shape, p) => ModelState.StateOf(shape.Name, p, optimizer)));
    }

    private static void AssertClose(NamedState expected, NamedState actual)
    {
        Assert.Equal(expected.Names, actual.Names);
        foreach (var name in expected.Names)
        {
            var (e, a) = (expected[name], actual[name]);
            Assert.Equal(e.Step, a.Step);
            Assert.Equal(e.Value.Shape, a.Value.Shape);
            AssertClose($"{name} values", e.Value, a.Value);
            Assert.Equal(e.Slots.Select(s => s.Name), a.Slots.Select(s => s.Name));
            foreach (var (es, @as) in e.Slots.Zip(a.Slots)) AssertClose($"{name} {es.Name}", es.Tensor, @as.Tensor);
        }
    }

    private static void AssertClose(string what, TensorBytes expected, TensorBytes actual)
    {
        var (e, a) = (Floats(expected), Floats(actual));
        Assert.Equal(e.Length, a.Length);
        var worst = e.Zip(a, (x, y) => Math.Abs(x - y)).Max();
        Assert.True(worst <= Tolerance, $"{what}: differs by {worst}");
    }

    private static float[] Floats(TensorBytes bytes) => MemoryMarshal.Cast<byte, float>(bytes.Data).ToArray();
}
