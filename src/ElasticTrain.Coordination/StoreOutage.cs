namespace ElasticTrain.Coordination;

/// <summary>
/// How long the journal has been failing. The coordinator stops on a journal failure and is
/// started again with backoff (it re-reads the journal, which settles any write race), so one
/// outage spans several coordinator instances: this outlives them, in the node that hosts them.
/// Past <see cref="Limit"/> without a successful read or write, the job ends with one clear line.
/// </summary>
public sealed class StoreOutage(TimeSpan limit)
{
    private readonly object _gate = new();
    private DateTime? _since;

    public TimeSpan Limit => limit;

    /// <summary>Records a failure at <paramref name="now"/>; true once failures have lasted past the limit.</summary>
    public bool Failed(DateTime now)
    {
        lock (_gate)
        {
            _since ??= now;
            return now - _since.Value >= limit;
        }
    }

    /// <summary>The journal answered: the outage, if any, is over.</summary>
    public void Recovered()
    {
        lock (_gate) _since = null;
    }
}
