namespace ElasticTrain.Models;

/// <summary>
/// A model or pipeline stage with dropout sites. The caller sets <see cref="Masks"/> before each
/// forward to the masks of the rows it runs (see <see cref="SampleMasks"/>); null, or a module in
/// eval mode, runs without dropout, bit for bit as a model without it.
/// </summary>
public interface ISampleDropout
{
    /// <summary>The next forwards' masks; null: no dropout.</summary>
    SampleMasks? Masks { get; set; }
}
