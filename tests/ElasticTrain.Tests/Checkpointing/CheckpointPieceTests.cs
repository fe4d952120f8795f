using ElasticTrain.Checkpointing;
using ElasticTrain.ParameterServer;

namespace ElasticTrain.Tests.Checkpointing;

/// <summary>A part's entry naming rows of a parameter: read back from the text a shard's piece writes, and plain names left alone.</summary>
public sealed class CheckpointPieceTests
{
    [Fact]
    public void An_entry_reads_as_the_rows_a_shard_piece_writes_and_a_plain_name_as_a_whole_parameter()
    {
        var shape = new ParameterShape("blocks.0.fc1.weight", [40, 8], 4);
        var split = new ShardPiece(shape, 22, 39);
        Assert.Equal(new CheckpointPiece("blocks.0.fc1.weight", 22, 39), CheckpointPiece.Parse(split.ToString()));
        Assert.Equal(split.ToString(), CheckpointPiece.Parse(split.ToString())!.ToString());
        Assert.Null(CheckpointPiece.Parse(new ShardPiece(shape, 0, 40).ToString()));
        Assert.Null(CheckpointPiece.Parse("fc1.bias"));
        Assert.Contains("names no non-empty range", Assert.Throws<ArgumentException>(() => CheckpointPiece.Parse("w[5,3)")).Message);
    }
}
