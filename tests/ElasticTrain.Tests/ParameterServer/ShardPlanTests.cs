using ElasticTrain.ParameterServer;

namespace ElasticTrain.Tests.ParameterServer;

/// <summary>
/// The shard plan covers every element once, keeps small and 1-D tensors whole, splits large ones
/// by rows into at most one piece per shard, stays within its stated balance bound, and does not
/// depend on the order the parameters come in. Properties are checked over seeded random models.
/// </summary>
public class ShardPlanTests
{
    /// <summary>A two-layer MLP's parameters, float32: 2096 bytes, fc1.weight larger than a third of them.</summary>
    internal static readonly IReadOnlyList<ParameterShape> Mlp =
    [
        new("fc1.weight", [40, 8], 4), new("fc1.bias", [40], 4), new("fc2.weight", [4, 40], 4), new("fc2.bias", [4], 4),
    ];

    [Fact]
    public void The_mlp_on_three_shards_splits_its_large_matrix_by_rows_and_has_this_text()
    {
        var plan = ShardPlan.Balanced(Mlp, 3);
        Assert.Equal(
            """
            3 shards, 2096 bytes, target 699, bound 1339
            shard 0: 672 bytes: fc1.weight[39,40) fc2.weight
            shard 1: 704 bytes: fc1.weight[22,39) fc1.bias
            shard 2: 720 bytes: fc1.weight[0,22) fc2.bias
            """.ReplaceLineEndings("\n"),
            plan.ToString());
        Assert.Equal([(2, 0L, 22L), (1, 22, 39), (0, 39, 40)], plan.HoldersOf("fc1.weight").Select(h => (h.Shard, h.Piece.FirstRow, h.Piece.EndRow)));
        var lastRow = plan.HoldersOf("fc1.weight")[2].Piece;
        Assert.Equal([1L, 8], lastRow.Shape);
        Assert.Equal((39 * 8L, 8L), (lastRow.FirstElement, lastRow.Elements));
    }

    [Fact]
    public void Every_element_of_every_parameter_is_in_exactly_one_piece()
    {
        foreach (var (parameters, shards) in RandomModels())
        {
            if (Plan(parameters, shards) is not { } plan) continue;
            Assert.Equal(parameters.Sum(p => p.Bytes), plan.TotalBytes);
            foreach (var parameter in parameters)
            {
                var next = 0L;
                foreach (var (_, piece) in plan.HoldersOf(parameter.Name))
                {
                    Assert.Equal(parameter, piece.Parameter);
                    Assert.Equal(next, piece.FirstRow);
                    next = piece.EndRow;
                }
                Assert.Equal(parameter.Rows, next);
            }
            for (var s = 0; s < shards; s++)
            {
                Assert.NotEmpty(plan.PiecesOf(s));
                Assert.Equal(plan.PiecesOf(s).Sum(p => p.Bytes), plan.BytesOf(s));
            }
            Assert.Equal(parameters.Count + parameters.Sum(p => plan.HoldersOf(p.Name).Count - 1), Enumerable.Range(0, shards).Sum(s => plan.PiecesOf(s).Count));
        }
    }

    [Fact]
    public void No_shard_holds_more_than_its_share_plus_the_largest_indivisible_unit()
    {
        foreach (var (parameters, shards) in RandomModels())
        {
            if (Plan(parameters, shards) is not { } plan) continue;
            var total = parameters.Sum(p => p.Bytes);
            // The unit: a row of a tensor the plan split, or a tensor it kept whole.
            var unit = parameters.Max(p => plan.HoldersOf(p.Name).Count > 1 ? p.RowBytes : p.Bytes);
            var heaviest = Enumerable.Range(0, shards).Max(plan.BytesOf);
            Assert.True(heaviest <= (total + shards - 1) / shards + unit,
                $"shard of {heaviest} bytes above {(total + shards - 1) / shards} + {unit}:\n{plan}");
            Assert.True(heaviest <= plan.Bound);
        }
    }

    [Fact]
    public void Only_tensors_of_two_or_more_dimensions_larger_than_a_share_are_split_and_each_at_most_once_per_shard()
    {
        foreach (var (parameters, shards) in RandomModels())
        {
            if (Plan(parameters, shards) is not { } plan) continue;
            foreach (var parameter in parameters)
            {
                var holders = plan.HoldersOf(parameter.Name);
                if (parameter.Shape.Count < 2 || parameter.Bytes <= plan.Target)
                    Assert.True(holders is [{ Piece.IsWhole: true }], $"{parameter} was split:\n{plan}");
                Assert.Equal(holders.Count, holders.Select(h => h.Shard).Distinct().Count());
            }
        }
    }

    [Fact]
    public void A_one_dimensional_tensor_stays_whole_even_when_it_is_larger_than_a_share()
    {
        var plan = ShardPlan.Balanced([new("embedding.bias", [1000], 4), new("w", [10, 10], 4), new("v", [10, 10], 4)], 3);
        Assert.True(plan.HoldersOf("embedding.bias") is [{ Piece.IsWhole: true }]);
        Assert.Equal(4000, plan.BytesOf(plan.HoldersOf("embedding.bias")[0].Shard));
    }

    [Fact]
    public void The_plan_depends_on_the_parameters_not_on_the_order_they_come_in()
    {
        var random = new Random(11);
        foreach (var (parameters, shards) in RandomModels().Take(100))
        {
            if (Plan(parameters, shards) is not { } plan) continue;
            var shuffled = parameters.OrderBy(_ => random.Next()).ToList();
            var again = ShardPlan.Balanced(shuffled, shards);
            Assert.Equal(Assignment(plan), Assignment(again));
            Assert.Equal(plan.ToString(), ShardPlan.Balanced(parameters, shards).ToString());
        }
    }

    [Fact]
    public void More_shards_than_the_parameters_fill_are_refused_with_the_count_they_do_fill()
    {
        // a stays whole (1-D); b's two rows fill at most two shards, and at 3 shards b stays whole too.
        var e = Assert.Throws<ArgumentException>(() => ShardPlan.Balanced([new("a", [3], 4), new("b", [2, 2], 4)], 5));
        Assert.Contains("5 shards would leave a shard without parameters", e.Message);
        Assert.Contains("the most shards below 5 that they fill is 2", e.Message);
        Assert.Equal(2, ShardPlan.Balanced([new("a", [3], 4), new("b", [2, 2], 4)], 2).Shards);
    }

    [Fact]
    public void One_shard_holds_every_parameter_whole()
    {
        var plan = ShardPlan.Balanced(Mlp, 1);
        Assert.Equal(Mlp.Select(p => p.Name), plan.PiecesOf(0).Select(p => p.ToString()));
    }

    [Fact]
    public void Bad_plans_pieces_and_shapes_are_refused_with_the_problem_named()
    {
        Assert.Contains("at least one shard", Assert.Throws<ArgumentException>(() => ShardPlan.Balanced(Mlp, 0)).Message);
        Assert.Contains("at least one parameter", Assert.Throws<ArgumentException>(() => ShardPlan.Balanced([], 2)).Message);
        Assert.Contains("'fc1.bias' is given twice", Assert.Throws<ArgumentException>(() => ShardPlan.Balanced([.. Mlp, new("fc1.bias", [2], 4)], 2)).Message);
        Assert.Contains("every dimension", Assert.Throws<ArgumentException>(() => new ParameterShape("w", [3, 0], 4)).Message);
        Assert.Contains("element size", Assert.Throws<ArgumentException>(() => new ParameterShape("w", [3], 0)).Message);
        Assert.Contains("not a non-empty range", Assert.Throws<ArgumentException>(() => new ShardPiece(Mlp[0], 5, 5)).Message);
        Assert.Contains("not a non-empty range", Assert.Throws<ArgumentException>(() => new ShardPiece(Mlp[0], 30, 41)).Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => ShardPlan.Balanced(Mlp, 2).PiecesOf(2));
        Assert.Contains("no parameter 'fc3.bias'", Assert.Throws<ArgumentException>(() => ShardPlan.Balanced(Mlp, 2).HoldersOf("fc3.bias")).Message);
    }

    [Fact]
    public void A_scalar_is_one_row_of_one_element_and_equal_shapes_are_equal_whatever_their_arrays()
    {
        var scalar = new ParameterShape("scale", [], 4);
        Assert.Equal((1L, 1L, 4L, false), (scalar.Rows, scalar.Elements, scalar.Bytes, scalar.Splittable));
        Assert.Equal([], new ShardPiece(scalar, 0, 1).Shape);
        Assert.Equal(new ParameterShape("w", [2, 3], 4), new ParameterShape("w", [2, 3], 4));
        Assert.NotEqual(new ParameterShape("w", [2, 3], 4), new ParameterShape("w", [3, 2], 4));
        Assert.Equal(new ShardPiece(Mlp[0], 1, 2), new ShardPiece(new("fc1.weight", [40, 8], 4), 1, 2));
    }

    private static ShardPlan? Plan(IReadOnlyList<ParameterShape> parameters, int shards)
    {
        try
        {
            return ShardPlan.Balanced(parameters, shards);
        }
        catch (ArgumentException e) when (e.Message.Contains("without parameters", StringComparison.Ordinal))
        {
            return null;
        }
    }

    private static List<(int, string)> Assignment(ShardPlan plan) =>
        [.. Enumerable.Range(0, plan.Shards).SelectMany(s => plan.PiecesOf(s).Select(p => (s, p.ToString()))).Order()];

    /// <summary>300 seeded models of 1 to 12 parameters (scalars, vectors, matrices of up to 300 rows, 3-D tensors; float32 or bf16) on 1 to 9 shards.</summary>
    private static IEnumerable<(IReadOnlyList<ParameterShape>, int)> RandomModels()
    {
        var random = new Random(5);
        for (var model = 0; model < 300; model++)
        {
            var parameters = Enumerable.Range(0, random.Next(1, 13)).Select(i =>
            {
                long[] shape = random.Next(6) switch
                {
                    0 => [],
                    1 => [random.Next(1, 500)],
                    2 => [random.Next(1, 300), random.Next(1, 64), random.Next(1, 4)],
                    _ => [random.Next(1, 300), random.Next(1, 100)],
                };
                return new ParameterShape($"p{i}", shape, random.Next(2) == 0 ? 4 : 2);
            }).ToList();
            yield return (parameters, random.Next(1, 10));
        }
    }
}
