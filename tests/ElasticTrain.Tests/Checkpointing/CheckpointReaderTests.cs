using ElasticTrain.Checkpointing;
using ElasticTrain.Tests.Support;

namespace ElasticTrain.Tests.Checkpointing;

/// <summary>
/// One reader for a checkpoint in parts and a single file: it opens only the parts it needs,
/// verifies each file it opens, and names the file when something is wrong.
/// </summary>
public sealed class CheckpointReaderTests : IDisposable
{
    private readonly string _folder = Path.Combine(Path.GetTempPath(), "et-reader-" + Guid.NewGuid().ToString("N"));
    private readonly CheckpointParts _written;

    public CheckpointReaderTests() => _written = new CheckpointParts(new CheckpointStore(_folder));

    private static readonly string[] AllNames = [.. CheckpointParts.Stages.SelectMany(s => s)];

    [Fact]
    public void A_checkpoint_in_parts_reads_back_whole_and_any_subset_across_parts()
    {
        var whole = CheckpointReader.Read(_written.Manifest, _written.Sha256);
        Assert.Equal(CheckpointParts.Metadata, whole.Metadata);
        CheckpointParts.AssertHolds(AllNames, whole.Sections);

        string[] across = ["head.weight", "embed.weight"];
        CheckpointParts.AssertHolds(across, CheckpointReader.Read(_written.Manifest, _written.Sha256, across).Sections);
    }

    [Fact]
    public void A_subset_held_by_one_part_opens_no_other_part()
    {
        File.Delete(_written.Parts[0].File);
        File.Delete(_written.Parts[2].File);
        CheckpointParts.AssertHolds(CheckpointParts.Stages[1], CheckpointReader.Read(_written.Manifest, _written.Sha256, CheckpointParts.Stages[1]).Sections);
    }

    [Fact]
    public void A_missing_damaged_or_substituted_part_is_refused_naming_it()
    {
        var part = _written.Parts[1].File;
        var bytes = File.ReadAllBytes(part);
        bytes[bytes.Length / 2] ^= 0xFF;
        File.WriteAllBytes(part, bytes);
        var damaged = Assert.Throws<CheckpointException>(() => CheckpointReader.Read(_written.Manifest, _written.Sha256));
        Assert.Contains($"'{part}' is damaged", damaged.Message);

        CheckpointFile.Write(part, CheckpointParts.Metadata, new NamedState([CheckpointParts.State["head.weight"]]).ToSections());
        var substituted = Assert.Throws<CheckpointException>(() => CheckpointReader.Read(_written.Manifest, _written.Sha256, ["blocks.1.qkv.weight"]));
        Assert.Contains($"'{part}' is not the one manifest '{_written.Manifest}' recorded", substituted.Message);

        File.Delete(part);
        Assert.Contains($"'{part}' is missing", Assert.Throws<CheckpointException>(() => CheckpointReader.Read(_written.Manifest, _written.Sha256)).Message);
    }

    [Fact]
    public void A_manifest_other_than_the_one_the_journal_recorded_is_refused()
    {
        CheckpointManifest.Write(_written.Manifest, CheckpointParts.Metadata with { CreatedUnixMs = 124 }, _written.Parts);
        var refused = Assert.Throws<CheckpointException>(() => CheckpointReader.Read(_written.Manifest, _written.Sha256));
        Assert.Contains($"'{_written.Manifest}' is not the one the journal recorded", refused.Message);
    }

    [Fact]
    public void A_wanted_parameter_no_part_holds_is_refused_naming_it()
    {
        var refused = Assert.Throws<CheckpointException>(() => CheckpointReader.Read(_written.Manifest, _written.Sha256, ["head.weight", "blocks.7.qkv.weight"]));
        Assert.Contains("no parameter 'blocks.7.qkv.weight'", refused.Message);
        Assert.Contains(_written.Manifest, refused.Message);
    }

    [Fact]
    public void A_part_of_another_checkpoint_listed_with_its_own_hash_is_refused()
    {
        var store = new CheckpointStore(Path.Combine(_folder, "mixed"));
        var stale = new CheckpointParts(store, step: 90);
        var current = new CheckpointParts(store, step: 100);
        var parts = current.Parts.ToArray();
        parts[2] = stale.Parts[2];
        var sha = CheckpointManifest.Write(current.Manifest, CheckpointParts.Metadata, parts);
        var refused = Assert.Throws<CheckpointException>(() => CheckpointReader.Read(current.Manifest, sha, ["head.weight"]));
        Assert.Contains($"'{stale.Parts[2].File}' is of job 'job' step 90", refused.Message);
    }

    [Fact]
    public void A_checkpoint_folder_moved_elsewhere_still_loads()
    {
        var moved = _folder + "-moved";
        Directory.Move(_folder, moved);
        try
        {
            var manifest = Path.Combine(moved, "job", Path.GetFileName(_written.Manifest));
            CheckpointParts.AssertHolds(AllNames, CheckpointReader.Read(manifest, _written.Sha256).Sections);
        }
        finally
        {
            Directory.Move(moved, _folder);
        }
    }

    [Fact]
    public void The_shape_is_told_by_content_not_by_the_file_name()
    {
        var manifestAsCkpt = Path.Combine(Path.GetDirectoryName(_written.Manifest)!, "renamed.ckpt");
        File.Copy(_written.Manifest, manifestAsCkpt);
        CheckpointParts.AssertHolds(AllNames, CheckpointReader.Read(manifestAsCkpt, _written.Sha256).Sections);

        var single = Path.Combine(_folder, "single.manifest.json");
        var sha = CheckpointFile.Write(single, CheckpointParts.Metadata, CheckpointParts.State.ToSections());
        CheckpointParts.AssertHolds(AllNames, CheckpointReader.Read(single, sha).Sections);

        var text = Path.Combine(_folder, "notes.json");
        File.WriteAllText(text, """{"format":"something else"}""");
        var refused = Assert.Throws<CheckpointException>(() => CheckpointReader.Read(text, Sha256Of(text)));
        Assert.Contains("manifest of format 'something else'", refused.Message);
        File.WriteAllText(text, "hello");
        Assert.Contains("not an ElasticTrain checkpoint", Assert.Throws<CheckpointException>(() => CheckpointReader.Read(text, Sha256Of(text))).Message);
    }

    [Fact]
    public void A_single_file_checkpoint_reads_whole_and_by_subset_through_the_same_reader()
    {
        var path = Path.Combine(_folder, "step-000000100.ckpt");
        var sha = CheckpointFile.Write(path, CheckpointParts.Metadata, CheckpointParts.State.ToSections());
        var whole = CheckpointReader.Read(path, sha);
        Assert.Equal(CheckpointParts.Metadata, whole.Metadata);
        CheckpointParts.AssertHolds(AllNames, whole.Sections);
        CheckpointParts.AssertHolds(["blocks.1.qkv.weight"], CheckpointReader.Read(path, sha, ["blocks.1.qkv.weight"]).Sections);
        Assert.Contains($"'{path}' holds no parameter 'nope'", Assert.Throws<CheckpointException>(() => CheckpointReader.Read(path, sha, ["nope"])).Message);
        Assert.Contains("not the one the journal recorded", Assert.Throws<CheckpointException>(() => CheckpointReader.Read(path, _written.Sha256)).Message);
    }

    [Fact]
    public void A_checkpoint_of_the_older_layout_reads_whole_as_before_and_refuses_a_subset()
    {
        var legacy = Path.Combine(RepositoryRoot.Find(), "tests", "ElasticTrain.Tests", "Checkpointing", "Fixtures", "legacy-step-3.ckpt");
        const string sha = "2f0079b814b3a757b314fa5c490b228352290c44e37062d1a873075c3fce58ba";
        var whole = CheckpointReader.Read(legacy, sha);
        var before = CheckpointFile.Read(legacy, sha);
        Assert.Equal(before.Metadata, whole.Metadata);
        Assert.Equal(["model", "optimizer"], whole.Sections.Keys.Order());
        Assert.All(before.Sections, s => Assert.Equal(s.Value, whole.Sections[s.Key]));
        Assert.Contains("older model/optimizer layout", Assert.Throws<CheckpointException>(() => CheckpointReader.Read(legacy, sha, ["blocks.0.qkv.weight"])).Message);
    }

    [Fact]
    public void Pieces_of_a_parameter_across_parts_read_back_joined_whole_and_by_subset()
    {
        var pieced = new PiecedCheckpoint(new CheckpointStore(Path.Combine(_folder, "pieced")));
        void AssertHolds(string[] names, IEnumerable<string>? wanted = null)
        {
            var read = NamedState.FromSections(CheckpointReader.Read(pieced.Manifest, pieced.Sha256, wanted).Sections);
            Assert.Equal(names.Order(StringComparer.Ordinal), read.Names);
            Assert.All(names, n => Assert.True(read[n].SameAs(PiecedCheckpoint.State[n]), n));
        }
        AssertHolds(["a.weight", "b.weight", "c.bias", "d.weight"]);
        AssertHolds(["b.weight", "c.bias"], ["b.weight", "c.bias"]);
        // Only the parts holding rows of a.weight are opened.
        File.Delete(pieced.Parts[2].File);
        AssertHolds(["a.weight"], ["a.weight"]);
    }

    [Fact]
    public void Pieces_that_leave_a_row_out_or_hold_one_twice_are_refused_naming_the_parameter_and_the_manifest()
    {
        var pieced = new PiecedCheckpoint(new CheckpointStore(Path.Combine(_folder, "pieced")));
        var listing = File.ReadAllText(pieced.Manifest);
        foreach (var (entry, problem) in new[] { ("a.weight[3,5)", "rows [2,3) are in no piece"), ("a.weight[1,5)", "rows [1,2) are in two pieces") })
        {
            // By hand: the manifest's writer refuses such a listing.
            File.WriteAllText(pieced.Manifest, listing.Replace("a.weight[2,5)", entry));
            var refused = Assert.Throws<CheckpointException>(() => CheckpointReader.Read(pieced.Manifest, Sha256Of(pieced.Manifest)));
            Assert.Contains($"'{pieced.Manifest}'", refused.Message);
            Assert.Contains($"parameter 'a.weight': {problem}", refused.Message);
        }
    }

    [Fact]
    public void Pieces_that_disagree_on_element_type_or_step_are_refused_naming_the_parameter_and_the_manifest()
    {
        var halves = new PiecedCheckpoint(new CheckpointStore(Path.Combine(_folder, "dtype")),
            s => s.Name == "b.weight[1,4)" ? s with { Value = s.Value with { DType = "Float16" } } : s);
        var refused = Assert.Throws<CheckpointException>(() => CheckpointReader.Read(halves.Manifest, halves.Sha256, ["b.weight"]));
        Assert.Equal($"checkpoint '{halves.Manifest}': the pieces of parameter 'b.weight' disagree: values of b.weight[0,1) are Float32 [1, 2], of b.weight[1,4) Float16 [3, 2]", refused.Message);

        var restarted = new PiecedCheckpoint(new CheckpointStore(Path.Combine(_folder, "step")), s => s.Name == "a.weight[2,5)" ? s with { Step = 0 } : s);
        refused = Assert.Throws<CheckpointException>(() => CheckpointReader.Read(restarted.Manifest, restarted.Sha256));
        Assert.Contains($"checkpoint '{restarted.Manifest}': the pieces of parameter 'a.weight' disagree: step 41", refused.Message);
        // The parameters not in pieces read as ever.
        Assert.True(NamedState.FromSections(CheckpointReader.Read(restarted.Manifest, restarted.Sha256, ["c.bias"]).Sections)["c.bias"].SameAs(PiecedCheckpoint.State["c.bias"]));
    }

    private static string Sha256Of(string path) =>
        Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(path)));

    public void Dispose()
    {
        if (Directory.Exists(_folder)) Directory.Delete(_folder, recursive: true);
    }
}
