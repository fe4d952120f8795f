using Akka.Configuration;
using ElasticTrain.Checkpointing;
using ElasticTrain.Configuration;
using ElasticTrain.Ranks;

using ElasticTrain.Models;

namespace ElasticTrain.Cli.Hosting;

/// <summary>
/// `elastictrain eval`: the job's latest checkpoint, as its journal names it, loaded into one whole
/// replica and run forward over the job's held-out windows. The model and data are the journal's
/// (a --data flag may say where the same data lies here); the recipe comes from the flags, as for
/// `train`, and must give the job's identity, so the windows are the ones the job held out.
/// </summary>
public static class CheckpointEvaluation
{
    public sealed record Result(string JobId, long Step, double Loss, double Perplexity, int Samples);

    /// <exception cref="SettingsException">No such job, no checkpoint, no held-out windows, or other settings than the job's.</exception>
    /// <exception cref="CheckpointException">The checkpoint is missing, damaged or of another job.</exception>
    public static async Task<Result> RunAsync(HostSettings settings, Config config, CancellationToken cancellation)
    {
        var id = settings.Job.Id;
        var store = JournalStore.Resolve(settings.Store, settings.DataDirectory);
        store.Probe();
        var state = await JobJournal.ReadAsync(store, id, config, cancellation);
        if (state.Config is not { } job) throw new SettingsException($"no job '{id}' in the store ({store.Description})");
        if (state.LastCheckpoint is not { } checkpoint) throw new SettingsException($"job '{id}' has no checkpoint yet");
        // The period does not matter here, only that windows are held out (and which).
        var recipe = settings.Recipe.HoldsOut ? settings.Recipe : settings.Recipe with { EvalEvery = job.Steps };
        var data = JobData.Load(settings.Job.DataPath.Length > 0 ? settings.Job.DataPath : job.DataPath, job, settings.DataDirectory, recipe);
        var identity = job.IdentityHash(data.Corpus.Fingerprint, recipe);
        if (identity != state.IdentityHash)
            throw new SettingsException(job.IdentityHash(data.Corpus.Fingerprint, recipe with { EvalEvery = null }) == state.IdentityHash
                ? $"job '{id}' holds no windows out to evaluate on: it was trained without --eval-every"
                : $"job '{id}' was trained with other settings: give the data and the recipe flags it was trained with (optimizer, schedule, clipping, eval-fraction, mode and consistency)");

        TorchRuntime.Configure(settings.MklKernels);
        TorchRuntime.UseThreads(settings.TorchThreads);
        using var replica = new Replica(job, identity, TorchSharp.torch.CPU, bucketBytes: 0, recipe);
        replica.Restore(checkpoint);
        var ids = data.Split.HeldOut;
        var loss = replica.Evaluate(data.Dataset.ReadWindows(ids), ids.Count) / ids.Count;
        return new Result(id, checkpoint.Step, loss, Math.Exp(loss), ids.Count);
    }
}
