namespace ElasticTrain.Collectives;

/// <summary>
/// Sums a buffer element-wise over every member of an exchange group, in place. It blocks the
/// calling thread, and must return or throw within the exchange timeout, so that a dead peer fails
/// the step instead of hanging it. A step's gradient may be exchanged in several buckets, one call
/// each, in the same order on every member.
/// </summary>
public interface ICollective
{
    void AllReduceSum(Memory<float> values, ExchangeGroup group, int bucket, CancellationToken cancellation);

    /// <summary>Bytes this collective has posted to its links so far (headers included): what the metrics count per step.</summary>
    long BytesSent => 0;
}
