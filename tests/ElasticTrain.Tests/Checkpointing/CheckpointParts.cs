using ElasticTrain.Checkpointing;

namespace ElasticTrain.Tests.Checkpointing;

/// <summary>
/// A checkpoint of four parameters written as a pipeline of three stages would write it: one part
/// per stage through <see cref="CheckpointFile.Write"/>, then the manifest. Shared by the tests of
/// the manifest, the reader and the store.
/// </summary>
internal sealed class CheckpointParts
{
    public static readonly CheckpointMetadata Metadata = new("job", 100, "hash", 1600, 0, 1, 6, 123);

    /// <summary>The parameters each stage holds, by whole-model name.</summary>
    public static readonly string[][] Stages = [["embed.weight", "blocks.0.qkv.weight"], ["blocks.1.qkv.weight"], ["head.weight"]];

    public static readonly NamedState State = new(Stages.SelectMany(s => s).Select((name, i) => new ParameterState(name, Tensor(i, 3, 2), 100 + i, Tensor(i + 10, 3, 2), Tensor(i + 20, 6))));

    public CheckpointParts(CheckpointStore store, long step = 100)
    {
        var metadata = Metadata with { Step = step };
        Parts = [.. Stages.Select((names, stage) =>
        {
            var path = store.PartPathFor(metadata.JobId, step, stage, Stages.Length);
            var sha = CheckpointFile.Write(path, metadata, new NamedState(names.Select(n => State[n])).ToSections());
            return new CheckpointPart(path, sha, names);
        })];
        Manifest = store.ManifestPathFor(metadata.JobId, step);
        Sha256 = CheckpointManifest.Write(Manifest, metadata, Parts);
    }

    /// <summary>As given to the manifest: full paths, which it stores as names in its folder.</summary>
    public IReadOnlyList<CheckpointPart> Parts { get; }

    public string Manifest { get; }

    public string Sha256 { get; }

    public static TensorBytes Tensor(int seed, params long[] shape)
    {
        var data = new byte[shape.Aggregate(4L, (a, b) => a * b)];
        new Random(seed).NextBytes(data);
        return new TensorBytes("Float32", shape, data);
    }

    /// <summary>Every name in <paramref name="sections"/> holds exactly the state written for it.</summary>
    public static void AssertHolds(IEnumerable<string> names, IReadOnlyDictionary<string, byte[]> sections)
    {
        var read = NamedState.FromSections(sections);
        Assert.Equal(names.Order(StringComparer.Ordinal), read.Names);
        Assert.All(read.Names, n => Assert.True(read[n].SameAs(State[n]), n));
    }
}
