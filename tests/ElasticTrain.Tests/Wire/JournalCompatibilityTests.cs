using System.Reflection;
using Akka.TestKit.Xunit2;
using ElasticTrain.Configuration;
using ElasticTrain.Coordination;
using ElasticTrain.Jobs;
using ElasticTrain.Ranks;
using ElasticTrain.Wire;

namespace ElasticTrain.Tests.Wire;

/// <summary>
/// Journals and snapshots already on disk must stay readable. Fixtures/journal-741.txt holds bytes
/// written by the serializer with id 741 as it was when these fixtures were made (one
/// "name base64" line per value); they must read back, through whatever reference.conf binds now,
/// as the values below. Never regenerate the fixture to make this test pass.
/// </summary>
public class JournalCompatibilityTests() : TestKit(HoconFiles.Reference(typeof(IWireMessage).Assembly))
{
    private const int JournaledSerializerId = 741;

    private static readonly JobConfig Job =
        new("resnet-run.7", "gpt", 4, 4, 256, 128, 16, 2000, 3e-4, 0.01, 1, "/data/corpus", 50);

    private static readonly CheckpointRef Checkpoint = new(50, "/data/checkpoints/resnet-run.7/step-50.ckpt",
        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");

    private static Dictionary<string, byte[]> Fixture()
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream("ElasticTrain.Tests.Wire.journal-741.txt")
            ?? throw new InvalidOperationException("fixture resource missing");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd().Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(line => line.Split(' ', 2))
            .ToDictionary(parts => parts[0], parts => Convert.FromBase64String(parts[1]));
    }

    private object Read(string name)
    {
        var bytes = Fixture()[name];
        // As the journal does: by the stored serializer id, with no manifest (IncludeManifest is false).
        return Sys.Serialization.Deserialize(bytes, JournaledSerializerId, "");
    }

    [Fact]
    public void The_journaled_serializer_id_is_still_bound_to_wire_messages()
    {
        Assert.Equal(JournaledSerializerId, Sys.Serialization.FindSerializerFor(new JobCompleted(1)).Identifier);
        Assert.Equal(JournaledSerializerId, Sys.Serialization.FindSerializerFor(JobState.Empty).Identifier);
    }

    [Fact]
    public void Fixture_holds_every_value()
    {
        Assert.Equal(["CheckpointTaken", "GenerationStarted", "JobCompleted", "JobStarted", "JobState", "StepCommitted"],
            Fixture().Keys.Order());
    }

    [Fact]
    public void JobStarted_reads_back() =>
        Assert.Equal(new JobStarted(Job, "3b2c9a", "fp:1234:abcd"), Read("JobStarted"));

    [Fact]
    public void GenerationStarted_reads_back()
    {
        var back = Assert.IsType<GenerationStarted>(Read("GenerationStarted"));
        Assert.Equal(3, back.Generation);
        Assert.Equal(["a:4053/r0", "a:4053/r1", "b:4054/r0"], back.Ranks);
    }

    [Fact]
    public void StepCommitted_reads_back() =>
        Assert.Equal(new StepCommitted(51, 2.718281828, 3, 3), Read("StepCommitted"));

    [Fact]
    public void CheckpointTaken_reads_back() =>
        Assert.Equal(new CheckpointTaken(Checkpoint), Read("CheckpointTaken"));

    [Fact]
    public void JobCompleted_reads_back() =>
        Assert.Equal(new JobCompleted(2000), Read("JobCompleted"));

    [Fact]
    public void JobState_snapshot_reads_back()
    {
        var back = Assert.IsType<JobState>(Read("JobState"));
        Assert.Equal(Job, back.Config);
        Assert.Equal("3b2c9a", back.IdentityHash);
        Assert.Equal(3, back.Generation);
        Assert.Equal(52, back.CommittedStep);
        Assert.Equal(Checkpoint, back.LastCheckpoint);
        Assert.Equal([new StepCommitted(51, 3.125, 3, 3), new StepCommitted(52, 3.0625, 3, 3)], back.LossesSinceCheckpoint);
        Assert.Equal(0, back.CompletedAt);
    }
}
