using ElasticTrain.Checkpointing;

namespace ElasticTrain.Tests.Checkpointing;

/// <summary>The job folder's names for parts and manifests, and pruning that takes a checkpoint in parts as one.</summary>
public sealed class CheckpointStoreTests : IDisposable
{
    private readonly string _folder = Path.Combine(Path.GetTempPath(), "et-store-" + Guid.NewGuid().ToString("N"));

    private string[] Left() => [.. Directory.GetFiles(Path.Combine(_folder, "job")).Select(f => Path.GetFileName(f)!).Order(StringComparer.Ordinal)];

    [Fact]
    public void A_stage_part_and_a_manifest_are_named_after_the_step_beside_single_files()
    {
        var store = new CheckpointStore(_folder);
        Assert.Equal(Path.Combine(store.Root, "j", "step-000000100.part-1-of-4.ckpt"), store.PartPathFor("j", 100, 0, 4));
        Assert.Equal(Path.Combine(store.Root, "j", "step-000000100.part-4-of-4.ckpt"), store.PartPathFor("j", 100, 3, 4));
        Assert.Equal(Path.Combine(store.Root, "j", "step-000000100.manifest.json"), store.ManifestPathFor("j", 100));
        Assert.Throws<ArgumentOutOfRangeException>(() => store.PartPathFor("j", 100, 4, 4));
        Assert.Throws<ArgumentOutOfRangeException>(() => store.PartPathFor("j", 100, -1, 4));
    }

    [Fact]
    public void Pruning_deletes_older_checkpoints_with_their_parts_and_keeps_the_kept_ones_parts()
    {
        var store = new CheckpointStore(_folder, keep: 2);
        foreach (var step in new[] { 10, 20, 30 })
            _ = new CheckpointParts(store, step);
        CheckpointFile.Write(store.PathFor("job", 40), CheckpointParts.Metadata with { Step = 40 }, new Dictionary<string, byte[]>());

        store.Prune("job", store.ManifestPathFor("job", 30));
        Assert.Equal([
            "step-000000030.manifest.json", "step-000000030.part-1-of-3.ckpt", "step-000000030.part-2-of-3.ckpt", "step-000000030.part-3-of-3.ckpt",
            "step-000000040.ckpt"], Left());
    }

    [Fact]
    public void Pruning_never_deletes_the_parts_the_current_checkpoint_lists_whatever_their_names()
    {
        var store = new CheckpointStore(_folder, keep: 1);
        _ = new CheckpointParts(store, 10);
        var current = new CheckpointParts(store, 20);
        _ = new CheckpointParts(store, 30);
        var renamed = Path.Combine(_folder, "job", "step-000000005.part-1-of-3.ckpt"); // looks like a part a cut-short write left
        File.Move(current.Parts[0].File, renamed);
        var sha = CheckpointManifest.Write(current.Manifest, CheckpointParts.Metadata with { Step = 20 }, [current.Parts[0] with { File = renamed }, .. current.Parts.Skip(1)]);

        store.Prune("job", current.Manifest);
        Assert.Contains("step-000000005.part-1-of-3.ckpt", Left());
        Assert.DoesNotContain(Left(), f => f.StartsWith("step-000000010.", StringComparison.Ordinal));
        Assert.Equal(4, Left().Count(f => f.StartsWith("step-000000030.", StringComparison.Ordinal)));
        Assert.Equal(CheckpointParts.State.Names, NamedState.FromSections(CheckpointReader.Read(current.Manifest, sha).Sections).Names);
    }

    [Fact]
    public void Pruning_sweeps_parts_no_manifest_lists_older_than_the_current_and_leaves_newer_ones_being_written()
    {
        var store = new CheckpointStore(_folder, keep: 1);
        var cut = CheckpointParts.Metadata with { Step = 5 };
        CheckpointFile.Write(store.PartPathFor("job", 5, 0, 2), cut, new Dictionary<string, byte[]>());
        _ = new CheckpointParts(store, 10);
        CheckpointFile.Write(store.PartPathFor("job", 15, 0, 2), cut with { Step = 15 }, new Dictionary<string, byte[]>());

        store.Prune("job", store.ManifestPathFor("job", 10));
        Assert.DoesNotContain("step-000000005.part-1-of-2.ckpt", Left());
        Assert.Contains("step-000000015.part-1-of-2.ckpt", Left());
        Assert.Equal(4, Left().Count(f => f.StartsWith("step-000000010.", StringComparison.Ordinal)));
    }

    public void Dispose()
    {
        if (Directory.Exists(_folder)) Directory.Delete(_folder, recursive: true);
    }
}
