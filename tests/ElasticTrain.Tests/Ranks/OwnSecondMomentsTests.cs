using ElasticTrain.Collectives;
using ElasticTrain.Collectives.Transport;
using ElasticTrain.Ranks;
using ElasticTrain.Ranks.Compression;
using ElasticTrain.Training;

namespace ElasticTrain.Tests.Ranks;

/// <summary>
/// A top-k job's exchange with Adam on a ring of two ranks linked in memory: whole sums during the
/// dense steps, and on a refresh step the same second moment on every rank, from the ranks' own
/// averages of their gradients and squares; a step exchanged and never committed takes nothing in.
/// </summary>
public sealed class OwnSecondMomentsTests : IDisposable
{
    private const double Beta2 = 0.9;
    private const float Scale = 0.5f;
    private readonly TensorTransport _transport = new("127.0.0.1", System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));

    [Fact]
    public void Dense_steps_sum_whole_gradients_and_a_refresh_gives_every_rank_the_mean_of_their_own_second_moments()
    {
        const int n = 1000;
        var schedule = new SecondMomentRefresh(DenseSteps: 2, Every: 2);
        var ports = Enumerable.Range(0, 2).Select(p => _transport.Open($"moments/r{p}")).ToArray();
        var group = ports.Select(p => new ExchangeMember(p.Rank, p.Address)).ToArray();
        var compressors = ports.Select(p => new RingAllReduce(p, TimeSpan.FromSeconds(30)))
            .Select(ring => new TopKCompressor(ring, 0.01, new OwnSecondMoments(ring, schedule, Beta2))).ToArray();
        var buffers = new[] { new float[n], new float[n] };
        var bucket = new GradientBucket(0, 0, 1, 0, n, 0, null);
        // What each rank's averages should hold: of its own mean gradient, and of its square.
        var (mean, squares) = (new double[2][], new double[2][]);
        for (int r = 0; r < 2; r++) (mean[r], squares[r]) = (new double[n], new double[n]);

        float[][] Step(long step, bool commit = true)
        {
            var random = new Random((int)step);
            var sent = buffers.Select(_ => Enumerable.Range(0, n).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray()).ToArray();
            Task.WaitAll(compressors.Select((c, r) => Task.Factory.StartNew(() =>
            {
                sent[r].CopyTo(buffers[r], 0);
                c.ScaleOwnGradient(Scale);
                c.Exchange(buffers[r], bucket, new ExchangeGroup(1, step, r, group), CancellationToken.None);
                if (commit) c.Commit();
            }, TaskCreationOptions.LongRunning)).ToArray());
            if (commit)
                for (int r = 0; r < 2; r++)
                    for (int i = 0; i < n; i++)
                    {
                        mean[r][i] = Beta2 * mean[r][i] + (1 - Beta2) * Scale * sent[r][i];
                        squares[r][i] = Beta2 * squares[r][i] + (1 - Beta2) * Math.Pow(Scale * sent[r][i], 2);
                    }
            return sent;
        }

        for (long step = 1; step <= 2; step++)
        {
            var sent = Step(step);
            for (int r = 0; r < 2; r++) Assert.Equal(sent[0].Zip(sent[1], (a, b) => a + b), buffers[r]);
            Assert.All(compressors, c => Assert.Null(c.TakeSecondMoment(step)));
        }

        Step(3); // a refresh: top-k sends, and the second moments are averaged
        Assert.True(buffers[0].Count(v => v != 0) <= 2 * TopKSelection.K(n, 0.01));
        var refreshed = compressors.Select(c => c.TakeSecondMoment(3)!).ToArray();
        Assert.Equal(refreshed[0], refreshed[1]); // the same bits on every rank
        AssertMeanOfSecondMoments(refreshed[0], step: 3);

        Step(4, commit: false); // aborted: run again below, taken in once
        Step(4);
        Assert.All(compressors, c => Assert.Null(c.TakeSecondMoment(4)));
        Step(5);
        AssertMeanOfSecondMoments(compressors[0].TakeSecondMoment(5)!, step: 5);

        // Both ranks took every step in, so every bias is that of the step: the refresh holds, for
        // Adam's bias to divide out, the mean over the ranks of v/W + (1 - 1/W)·m²/(1 - beta2^step).
        void AssertMeanOfSecondMoments(float[] refreshed, int step)
        {
            var bias = 1 - Math.Pow(Beta2, step);
            for (int i = 0; i < n; i++)
            {
                var expected = Enumerable.Range(0, 2).Average(r => squares[r][i] / 2 + 0.5 * mean[r][i] * mean[r][i] / bias);
                Assert.Equal(expected, refreshed[i], tolerance: 1e-5 * expected + 1e-12);
            }
        }
    }

    public void Dispose() => _transport.Dispose();
}
