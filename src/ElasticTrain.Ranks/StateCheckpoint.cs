using ElasticTrain.Checkpointing;
using ElasticTrain.Jobs;

namespace ElasticTrain.Ranks;

/// <summary>
/// A model part's state to and from checkpoint files: a whole replica writes the whole model, a
/// pipeline stage its part; either loads, by name, the parameters it holds from any checkpoint of
/// the job, whatever mesh wrote it.
/// </summary>
public static class StateCheckpoint
{
    /// <summary>Writes every parameter's values and optimizer state after <paramref name="step"/>; returns the file's SHA-256.</summary>
    public static string Save(IModelPart part, JobConfig job, string identityHash, string path, long step, int world, int epoch) =>
        Save(part, path, Metadata(job, identityHash, step, world, epoch));

    /// <summary>Writes every parameter's values and optimizer state as <paramref name="metadata"/> describes them; returns the file's SHA-256.</summary>
    public static string Save(IModelPart part, string path, CheckpointMetadata metadata)
    {
        if (metadata.Step != part.AppliedStep)
            throw new InvalidOperationException($"state at step {part.AppliedStep} asked to checkpoint step {metadata.Step}");
        return CheckpointFile.Write(path, metadata, part.ExportState());
    }

    /// <summary>What a checkpoint of the job after <paramref name="step"/> says of itself (or of its parts, in its manifest).</summary>
    public static CheckpointMetadata Metadata(JobConfig job, string identityHash, long step, int world, int epoch) =>
        new(job.Id, step, identityHash, step * job.GlobalBatch, epoch, job.Seed, world, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());

    /// <summary>Loads a checkpoint the journal named into <paramref name="part"/>, refusing one of another job or identity.</summary>
    public static void Restore(IModelPart part, JobConfig job, string identityHash, CheckpointRef checkpoint) =>
        // A whole replica reads everything (checkpoints older than the named format only load whole);
        // a stage reads only the parts that hold its parameters.
        part.ImportState(Read(checkpoint, job.Id, identityHash, part is Replica ? null : part.ParameterNames), checkpoint.Step);

    /// <summary>
    /// The sections of the parameters in <paramref name="names"/> (all when null) of a checkpoint the
    /// journal named, refusing one of another job or identity, or of another step than the journal's.
    /// </summary>
    /// <exception cref="CheckpointException">A file missing, damaged or not the one recorded, or of another job, identity or step.</exception>
    public static IReadOnlyDictionary<string, byte[]> Read(CheckpointRef checkpoint, string jobId, string identityHash, IEnumerable<string>? names)
    {
        var contents = CheckpointReader.Read(checkpoint.Path, checkpoint.Sha256, names);
        var metadata = contents.Metadata;
        if (metadata.IdentityHash != identityHash || metadata.JobId != jobId)
            throw new CheckpointException($"checkpoint '{checkpoint.Path}' belongs to job '{metadata.JobId}' identity {metadata.IdentityHash}, not '{jobId}' identity {identityHash}");
        if (metadata.Step != checkpoint.Step)
            throw new CheckpointException($"checkpoint '{checkpoint.Path}' holds step {metadata.Step}, the journal says {checkpoint.Step}");
        return contents.Sections;
    }
}
