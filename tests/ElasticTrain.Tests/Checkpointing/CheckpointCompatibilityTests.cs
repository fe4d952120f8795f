using ElasticTrain.Checkpointing;
using ElasticTrain.Jobs;
using ElasticTrain.Ranks;
using ElasticTrain.Tests.Support;
using TorchSharp;

namespace ElasticTrain.Tests.Checkpointing;

/// <summary>
/// Checkpoints already on disk must keep loading, and a checkpoint of one mesh must load into
/// another. Fixtures/legacy-step-3.ckpt was written by Replica.Save before the named-state format
/// (TorchSharp's "model" and "optimizer" sections), for <see cref="Job"/> after SoloTraining's
/// steps 1 to 3. Never regenerate it to make a test pass.
/// </summary>
[Collection(nameof(TorchThreadsCollection))]
public sealed class CheckpointCompatibilityTests : IDisposable
{
    private static readonly JobConfig Job = new("legacy-state", "gpt", Layers: 1, Heads: 2, Width: 8, Block: 4,
        GlobalBatch: 4, Steps: 10, LearningRate: 1e-2, WeightDecay: 0.01, Seed: 3, DataPath: "", CheckpointEvery: 100);

    private const string Identity = "legacy-hash";

    private static readonly CheckpointRef Legacy = new(3,
        Path.Combine(RepositoryRoot.Find(), "tests", "ElasticTrain.Tests", "Checkpointing", "Fixtures", "legacy-step-3.ckpt"),
        "2f0079b814b3a757b314fa5c490b228352290c44e37062d1a873075c3fce58ba");

    private readonly string _folder = Path.Combine(Path.GetTempPath(), "et-compat-" + Guid.NewGuid().ToString("N"));

    private static Replica NewReplica() => new(Job, Identity, torch.CPU, bucketBytes: 0);

    [Fact]
    public void The_fixture_is_in_the_older_layout()
    {
        var sections = CheckpointFile.Read(Legacy.Path, Legacy.Sha256).Sections;
        Assert.Equal(["model", "optimizer"], sections.Keys.Order());
    }

    [Fact]
    public void A_checkpoint_of_the_older_layout_resumes_and_trains_on_as_the_uninterrupted_run()
    {
        using var resumed = NewReplica();
        resumed.Restore(Legacy);
        using var uninterrupted = NewReplica();
        SoloTraining.Steps(uninterrupted, Job, 1, 3);
        AssertClose(uninterrupted.ParameterValues(), resumed.ParameterValues());

        SoloTraining.Steps(resumed, Job, 4, 5);
        SoloTraining.Steps(uninterrupted, Job, 4, 5);
        AssertClose(uninterrupted.ParameterValues(), resumed.ParameterValues());
    }

    [Fact]
    public void State_loaded_from_the_older_layout_and_saved_in_the_named_one_continues_bit_for_bit()
    {
        using var legacy = NewReplica();
        legacy.Restore(Legacy);
        var path = Path.Combine(_folder, "step-3.ckpt");
        var sha = legacy.Save(path, 3, world: 1, epoch: 0);

        var sections = CheckpointFile.Read(path, sha).Sections;
        Assert.True(NamedState.IsNamed(sections));
        Assert.DoesNotContain("model", sections.Keys);
        Assert.Equal(legacy.ParameterNames.Order(StringComparer.Ordinal), NamedState.FromSections(sections).Names);

        AssertRestoresAndTrainsOnBitForBit(legacy, new CheckpointRef(3, path, sha));
    }

    [Fact]
    public void A_checkpoint_in_stage_parts_restores_a_whole_replica_that_trains_on_bit_for_bit()
    {
        using var trained = NewReplica();
        SoloTraining.Steps(trained, Job, 1, 3);
        var names = trained.ParameterNames;
        string[][] stages = [[.. names.Take(names.Count / 3)], [.. names.Skip(names.Count / 3)]];
        var store = new CheckpointStore(_folder);
        var metadata = new CheckpointMetadata(Job.Id, 3, Identity, 3 * Job.GlobalBatch, 0, Job.Seed, 2, 0);
        var parts = stages.Select((held, stage) =>
        {
            var path = store.PartPathFor(Job.Id, 3, stage, stages.Length);
            return new CheckpointPart(path, CheckpointFile.Write(path, metadata, trained.ExportState(held)), held);
        }).ToList();
        var manifest = store.ManifestPathFor(Job.Id, 3);
        var sha = CheckpointManifest.Write(manifest, metadata, parts);

        AssertRestoresAndTrainsOnBitForBit(trained, new CheckpointRef(3, manifest, sha));

        File.Delete(parts[1].File);
        var stage0 = CheckpointReader.Read(manifest, sha, stages[0]);
        Assert.Equal(stages[0].Order(StringComparer.Ordinal), NamedState.FromSections(stage0.Sections).Names);
    }

    /// <summary>A replica restored from <paramref name="checkpoint"/> of step 3 equals <paramref name="original"/> and stays equal through steps 4 and 5.</summary>
    private static void AssertRestoresAndTrainsOnBitForBit(Replica original, CheckpointRef checkpoint)
    {
        using var restored = NewReplica();
        restored.Restore(checkpoint);
        Assert.Equal(original.ParameterValues(), restored.ParameterValues());
        SoloTraining.Steps(original, Job, 4, 5);
        SoloTraining.Steps(restored, Job, 4, 5);
        Assert.Equal(original.ParameterValues(), restored.ParameterValues());
    }

    /// <summary>
    /// Bit for bit with the torch thread count that wrote the fixture (2); with 1 or 4 threads the
    /// sums round otherwise, and AdamW, dividing by the root of tiny second moments, makes that
    /// 3e-5 of the parameters' norm by step 5. Had the optimizer state not loaded, it would be 1.4e-2.
    /// </summary>
    private static void AssertClose(float[] expected, float[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        var difference = Math.Sqrt(expected.Zip(actual, (a, b) => (double)(a - b) * (a - b)).Sum() / expected.Sum(a => (double)a * a));
        Assert.True(difference <= 1e-3, $"parameters differ by {difference:g3} of their norm");
    }

    public void Dispose()
    {
        if (Directory.Exists(_folder)) Directory.Delete(_folder, recursive: true);
    }
}
