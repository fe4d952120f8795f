using System.Diagnostics;

namespace ElasticTrain.Cli.Reporting;

/// <summary>Throughput over the steps since the job (re)started, and the time left at that rate.</summary>
public sealed class SamplesRate
{
    private readonly Stopwatch _clock = new();
    private long _samples;

    public void Reset() { _clock.Reset(); _samples = 0; }

    public void Add(int samples)
    {
        // The first step after a (re)start includes warm-up; the clock starts after it.
        if (!_clock.IsRunning) { _clock.Start(); return; }
        _samples += samples;
    }

    public double PerSecond => _clock.Elapsed.TotalSeconds > 0 ? _samples / _clock.Elapsed.TotalSeconds : 0;

    public string Eta(long stepsLeft, int samplesPerStep)
    {
        if (PerSecond <= 0) return "--:--";
        var left = TimeSpan.FromSeconds(stepsLeft * samplesPerStep / PerSecond);
        return left.TotalHours >= 1 ? left.ToString(@"h\:mm\:ss") : left.ToString(@"mm\:ss");
    }
}
