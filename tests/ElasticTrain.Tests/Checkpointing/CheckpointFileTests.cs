using ElasticTrain.Checkpointing;

namespace ElasticTrain.Tests.Checkpointing;

public sealed class CheckpointFileTests : IDisposable
{
    private readonly string _folder = Path.Combine(Path.GetTempPath(), "et-ckpt-" + Guid.NewGuid().ToString("N"));
    private static readonly CheckpointMetadata Metadata = new("job", 20, "hash", 320, 0, 1, 3, 123);

    [Fact]
    public void Written_checkpoints_read_back_with_their_sections_and_checksum()
    {
        var path = Path.Combine(_folder, "a.ckpt");
        var sha = CheckpointFile.Write(path, Metadata, new Dictionary<string, byte[]> { ["model"] = [1, 2, 3], ["optimizer"] = [] });
        var contents = CheckpointFile.Read(path, sha);
        Assert.Equal(Metadata, contents.Metadata);
        Assert.Equal([1, 2, 3], contents.Sections["model"]);
        Assert.Empty(contents.Sections["optimizer"]);
        Assert.False(File.Exists(path + ".tmp"));
    }

    [Fact]
    public void A_damaged_or_substituted_checkpoint_is_refused()
    {
        var path = Path.Combine(_folder, "b.ckpt");
        var sha = CheckpointFile.Write(path, Metadata, new Dictionary<string, byte[]> { ["model"] = new byte[100] });
        var bytes = File.ReadAllBytes(path);
        bytes[bytes.Length / 2] ^= 0xFF;
        File.WriteAllBytes(path, bytes);
        Assert.Contains("damaged", Assert.Throws<CheckpointException>(() => CheckpointFile.Read(path)).Message);

        CheckpointFile.Write(path, Metadata with { Step = 21 }, new Dictionary<string, byte[]>());
        Assert.Contains("not the one the journal recorded", Assert.Throws<CheckpointException>(() => CheckpointFile.Read(path, sha)).Message);
        Assert.Contains("missing", Assert.Throws<CheckpointException>(() => CheckpointFile.Read(path + ".nope")).Message);
    }

    [Fact]
    public void Pruning_keeps_the_newest_and_never_the_current()
    {
        var store = new CheckpointStore(_folder, keep: 2);
        foreach (var step in new[] { 10, 20, 30, 40 })
            CheckpointFile.Write(store.PathFor("j", step), Metadata with { Step = step }, new Dictionary<string, byte[]>());
        store.Prune("j", store.PathFor("j", 10));
        var left = Directory.GetFiles(Path.Combine(_folder, "j")).Select(f => Path.GetFileName(f)!).Order().ToArray();
        Assert.Equal(["step-000000010.ckpt", "step-000000030.ckpt", "step-000000040.ckpt"], left);
    }

    public void Dispose()
    {
        if (Directory.Exists(_folder)) Directory.Delete(_folder, recursive: true);
    }
}
