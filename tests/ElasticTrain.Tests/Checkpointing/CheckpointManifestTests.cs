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

    public void Dispose()
    {
        if (Directory.Exists(_folder)) Directory.Delete(_folder, recursive: true);
    }
}
