using ElasticTrain.Coordination.ParameterServer;
using ElasticTrain.ParameterServer;
using ElasticTrain.Ranks.ParameterServer;

namespace ElasticTrain.Tests.Coordination.ParameterServer;

/// <summary>LAMB's round across shards: a tensor's ratio comes from all its rows' norms, once every replica has answered.</summary>
public class TrustRoundTests
{
    private static ShardId S(int index) => new("job", index);

    private static ShardId B(int index) => new("job", index, backup: true);

    [Fact]
    public void A_split_tensors_ratio_is_the_root_of_its_shards_summed_squares_and_a_zero_norm_gives_one()
    {
        var ratios = TrustRatios.Of(
        [
            new TensorNorms("w", WeightSquares: 9, UpdateSquares: 1),
            new TensorNorms("b", WeightSquares: 0, UpdateSquares: 4),
            new TensorNorms("w", WeightSquares: 16, UpdateSquares: 3),
            new TensorNorms("g", WeightSquares: 4, UpdateSquares: 0),
        ]);
        Assert.Equal([new TrustRatio("w", 5.0 / 2), new TrustRatio("b", 1), new TrustRatio("g", 1)], ratios);
    }

    [Fact]
    public void Ratios_wait_for_every_replica_and_add_up_the_shards_own_shares()
    {
        var round = new TrustRound(gradientSquares: 2.5, [S(0), B(0), S(1), B(1)]);
        round.Add(S(1), [new TensorNorms("w", 16, 3)]);
        round.Add(B(1), [new TensorNorms("w", 16, 3)]);
        round.Add(S(0), [new TensorNorms("w", 9, 1)]);
        round.Add(new ShardId("job", 2), [new TensorNorms("w", 100, 100)]); // not waited for: ignored
        Assert.Null(round.Ratios());
        Assert.False(round.Has(B(0)));

        round.Add(B(0), [new TensorNorms("w", 9, 1)]);
        round.Add(B(0), [new TensorNorms("w", 1000, 1)]); // given again: the first stands
        Assert.True(round.Has(B(0)));
        // The backups measure what their shards measure: counted once, 9 + 16 over 1 + 3.
        Assert.Equal([new TrustRatio("w", 5.0 / 2)], round.Ratios()!);
        Assert.Equal(2.5, round.GradientSquares);
    }
}
