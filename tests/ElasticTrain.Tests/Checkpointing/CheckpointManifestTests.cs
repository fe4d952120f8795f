using System.Security.Cryptography;
using System.Text.Json;
using ElasticTrain.Checkpointing;

namespace ElasticTrain.Tests.Checkpointing;

/// <summary>The manifest of a checkpoint in parts: what it records, and the listings it refuses to write.</summary>
public sealed class CheckpointManifestTests : IDisposable
{
    private readonly string _folder = Path.Combine(Path.GetTempPath(), "et-manifest-" + Guid.NewGuid().ToString("N"));

    private static readonly string Hash = new('a', 64);

    [Fact]
    public void The_manifest_lists_metadata_and_each_part_by_name_hash_and_parameters_and_its_hash_is_its_bytes()
    {
        var written = new CheckpointParts(new CheckpointStore(_folder));
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(written.Manifest))), written.Sha256);
        Assert.False(File.Exists(written.Manifest + ".tmp"));

        using var json = JsonDocument.Parse(File.ReadAllBytes(written.Manifest));
        var root = json.RootElement;
        Assert.Equal(CheckpointManifest.Format, root.GetProperty("format").GetString());
        Assert.Equal(100, root.GetProperty("metadata").GetProperty("step").GetInt64());
        var parts = root.GetProperty("parts").EnumerateArray().ToList();
        Assert.Equal(["step-000000100.part-1-of-3.ckpt", "step-000000100.part-2-of-3.ckpt", "step-000000100.part-3-of-3.ckpt"],
            parts.Select(p => p.GetProperty("file").GetString()));
        Assert.Equal(written.Parts.Select(p => p.Sha256), parts.Select(p => p.GetProperty("sha256").GetString()));
        Assert.Equal(CheckpointParts.Stages[0], parts[0].GetProperty("parameters").EnumerateArray().Select(n => n.GetString()));
    }

    [Fact]
    public void A_parameter_listed_in_two_parts_is_refused_naming_it_and_both_parts()
    {
        var refused = Assert.Throws<ArgumentException>(() => CheckpointManifest.Write(Path.Combine(_folder, "m.json"), CheckpointParts.Metadata,
            [new CheckpointPart("a.ckpt", Hash, ["x", "shared"]), new CheckpointPart("b.ckpt", Hash, ["shared"])]));
        Assert.Contains("parameter 'shared' is in two parts, 'a.ckpt' and 'b.ckpt'", refused.Message);
        Assert.False(File.Exists(Path.Combine(_folder, "m.json")));
    }

    [Fact]
    public void A_part_outside_the_manifests_folder_a_file_listed_twice_or_a_malformed_hash_is_refused()
    {
        var manifest = Path.Combine(_folder, "m.json");
        void Write(params CheckpointPart[] parts) => CheckpointManifest.Write(manifest, CheckpointParts.Metadata, parts);

        Assert.Contains("not in the manifest's folder", Assert.Throws<ArgumentException>(() => Write(new CheckpointPart(Path.Combine(_folder, "sub", "a.ckpt"), Hash, ["x"]))).Message);
        Assert.Contains("not a file name", Assert.Throws<ArgumentException>(() => Write(new CheckpointPart("../a.ckpt", Hash, ["x"]))).Message);
        Assert.Contains("listed twice", Assert.Throws<ArgumentException>(() => Write(new CheckpointPart("a.ckpt", Hash, ["x"]), new CheckpointPart("a.ckpt", Hash, ["y"]))).Message);
        Assert.Contains("SHA-256", Assert.Throws<ArgumentException>(() => Write(new CheckpointPart("a.ckpt", Hash.ToUpperInvariant(), ["x"]))).Message);
    }

    [Fact]
    public void Row_pieces_are_listed_as_written_and_pieces_with_a_gap_an_overlap_or_beside_the_whole_parameter_are_refused()
    {
        var manifest = Path.Combine(_folder, "m.json");
        void Write(params string[][] entries) => CheckpointManifest.Write(manifest, CheckpointParts.Metadata,
            [.. entries.Select((e, i) => new CheckpointPart($"p{i}.ckpt", Hash, e))]);

        Write(["w[0,2)", "w[5,9)", "b"], ["w[2,5)"]);
        using (var json = JsonDocument.Parse(File.ReadAllBytes(manifest)))
            Assert.Equal(["w[0,2)", "w[5,9)", "b"], json.RootElement.GetProperty("parts")[0].GetProperty("parameters").EnumerateArray().Select(n => n.GetString()));
        Assert.Contains("parameter 'w': rows [2,3) are in no piece", Assert.Throws<ArgumentException>(() => Write(["w[0,2)"], ["w[3,5)"])).Message);
        Assert.Contains("parameter 'w': rows [0,1) are in no piece", Assert.Throws<ArgumentException>(() => Write(["w[1,2)"])).Message);
        Assert.Contains("parameter 'w': rows [1,2) are in two pieces", Assert.Throws<ArgumentException>(() => Write(["w[0,2)"], ["w[1,5)"])).Message);
        Assert.Contains("parameter 'w' is whole in part 'p1.ckpt' and in pieces as well (w[0,2))", Assert.Throws<ArgumentException>(() => Write(["w[0,2)"], ["w"])).Message);
        Assert.Contains("parameter 'w[0,2)' is in two parts", Assert.Throws<ArgumentException>(() => Write(["w[0,2)"], ["w[0,2)"])).Message);
        Assert.Contains("entry 'w[2,2)' names no non-empty range", Assert.Throws<ArgumentException>(() => Write(["w[0,2)", "w[2,2)"])).Message);
    }

    public void Dispose()
    {
        if (Directory.Exists(_folder)) Directory.Delete(_folder, recursive: true);
    }
}
