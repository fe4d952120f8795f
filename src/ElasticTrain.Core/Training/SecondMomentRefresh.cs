using ElasticTrain.Configuration;

namespace ElasticTrain.Training;

/// <summary>
/// Where Adam's second moment comes from under top-k compression (<c>elastictrain.job.topk</c>).
/// Fed the sparse sum, Adam divides each coordinate by the root of its own recent squares, so a
/// coordinate that top-k sends once in many steps, as one large accumulated value, moves by about
/// one normalised step instead of by all it accumulated (docs/PERFORMANCE.md measures the loss).
/// So the first <paramref name="DenseSteps"/> steps exchange whole gradients and Adam runs as
/// usual; after them top-k sends the gradients, Adam's second moment stops following them, and
/// every <paramref name="Every"/> steps it is replaced by an estimate the ranks make together from
/// their own dense gradients, averaged since the job's first step and exchanged dense
/// (ElasticTrain.Ranks.Compression.OwnSecondMoments). Pure functions of the step, so a resume or a
/// re-plan never shifts them.
/// </summary>
/// <param name="DenseSteps">Steps 1 to this exchange whole gradients (0: top-k from the first).</param>
/// <param name="Every">Steps from one refresh of the second moment to the next, the first at DenseSteps + 1.</param>
public sealed record SecondMomentRefresh(int DenseSteps, int Every)
{
    public const string Key = "elastictrain.job.topk";

    /// <summary>Whether step <paramref name="step"/> exchanges whole gradients and Adam takes their squares itself.</summary>
    public bool IsDense(long step) => step <= DenseSteps;

    /// <summary>Whether step <paramref name="step"/> replaces the second moment by the ranks' mean.</summary>
    public bool Refreshes(long step) => step > DenseSteps && (step - DenseSteps - 1) % Every == 0;

    /// <summary>
    /// The step whose squares the second moment held at <paramref name="step"/> last took in: Adam's
    /// bias correction divides by 1 - beta2^this, which stays fixed while the moment is.
    /// </summary>
    public long MomentStep(long step) => IsDense(step) ? step : DenseSteps + 1 + (step - DenseSteps - 1) / Every * Every;

    /// <summary>Reads <c>elastictrain.job.topk.dense-steps</c> and <c>second-moment-every</c>.</summary>
    /// <exception cref="SettingsException">A bad value; the message names the key.</exception>
    public static SecondMomentRefresh FromConfig(Akka.Configuration.Config config)
    {
        var reader = new SettingsReader(config, Key);
        return new(reader.Int("dense-steps", 0), reader.Int("second-moment-every", 1));
    }

    /// <summary>As it enters the job's identity.</summary>
    public string Canonical => $"dense-steps={DenseSteps},second-moment-every={Every}";
}
