using ElasticTrain.Collectives;
using ElasticTrain.Jobs;
using ElasticTrain.Ranks;
using ElasticTrain.Tests.Models;

namespace ElasticTrain.Tests.Support;

/// <summary>
/// Trains a replica on its own: one member, so the exchange leaves the summed gradient as it is,
/// on tokens drawn from the step number. No corpus, so the same step sees the same bytes on every
/// machine (fixtures made here replay anywhere).
/// </summary>
public static class SoloTraining
{
    private sealed class Alone : ICollective
    {
        public void AllReduceSum(Memory<float> values, ExchangeGroup group, int bucket, CancellationToken cancellation) { }
    }

    private static readonly ExchangeMember Self = new("solo", "127.0.0.1:0");

    /// <summary>Computes and applies steps <paramref name="first"/> to <paramref name="last"/>, each over the whole global batch.</summary>
    public static void Steps(Replica replica, JobConfig job, long first, long last)
    {
        using var exchange = new BucketExchange(new Alone(), "solo", torchThreads: 1);
        for (long step = first; step <= last; step++)
        {
            var tokens = TestTensors.RandomBytes((int)step, job.GlobalBatch * (job.Block + 1));
            replica.Exchange(step, tokens, [.. Enumerable.Range(0, job.GlobalBatch)], exchange, new ExchangeGroup(1, step, 0, [Self]), CancellationToken.None);
            replica.Apply(step);
        }
    }
}
