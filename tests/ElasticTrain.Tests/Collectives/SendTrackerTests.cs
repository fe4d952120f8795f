using System.Diagnostics;
using ElasticTrain.Collectives;
using ElasticTrain.Collectives.Transport;

namespace ElasticTrain.Tests.Collectives;

public class SendTrackerTests
{
    [Fact]
    public async Task A_failed_frame_still_waits_for_the_frame_in_flight_before_throwing()
    {
        var tracker = new SendTracker();
        tracker.Posted();
        tracker.Posted();
        tracker.Done(new IOException("reset")); // the first frame failed; the second is still being read
        var clock = Stopwatch.StartNew();
        var late = Task.Run(async () => { await Task.Delay(300); tracker.Done(); });

        var failure = Assert.Throws<ExchangeFailedException>(() => tracker.WaitAll(TimeSpan.FromSeconds(10)));
        Assert.True(clock.ElapsedMilliseconds >= 250, $"returned after {clock.ElapsedMilliseconds} ms, while a frame was still read");
        Assert.Contains("reset", failure.Message);
        await late;
    }

    [Fact]
    public void Frames_that_are_never_taken_fail_the_wait_after_the_timeout()
    {
        var tracker = new SendTracker();
        tracker.Posted();
        Assert.Throws<ExchangeFailedException>(() => tracker.WaitAll(TimeSpan.FromMilliseconds(200)));
    }

    [Fact]
    public void All_frames_done_returns_at_once()
    {
        var tracker = new SendTracker();
        tracker.Posted();
        tracker.Done();
        tracker.WaitAll(TimeSpan.FromSeconds(1));
    }
}
