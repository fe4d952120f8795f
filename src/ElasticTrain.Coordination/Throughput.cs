namespace ElasticTrain.Coordination;

/// <summary>Pure: samples per second over the last commits, for <c>elastictrain status</c>.</summary>
public sealed class Throughput(int window = 20)
{
    private readonly Queue<(long Step, long TimeMs)> _recent = new();

    public void Committed(long step, long timeUnixMs)
    {
        _recent.Enqueue((step, timeUnixMs));
        if (_recent.Count > window) _recent.Dequeue();
    }

    public double SamplesPerSecond(int globalBatch)
    {
        if (_recent.Count < 2) return 0;
        var (first, last) = (_recent.Peek(), _recent.Last());
        return (last.Step - first.Step) * globalBatch * 1000.0 / Math.Max(1, last.TimeMs - first.TimeMs);
    }
}
