namespace ElasticTrain.Collectives;

/// <summary>
/// Sums a buffer element-wise over every member of an exchange group, in place. Called on a rank's
/// compute thread, which it may block; it must return or throw within the exchange timeout so a
/// dead peer fails the step instead of hanging it. Implementations are chosen by name
/// (see <see cref="Collective.Create"/>); a faster transport replaces the ring without the ranks knowing.
/// </summary>
public interface ICollective
{
    void AllReduceSum(float[] buffer, ExchangeGroup group, CancellationToken cancellation);
}
