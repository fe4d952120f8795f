namespace ElasticTrain.Cli.Hosting;

/// <summary>
/// Writes to the store every couple of seconds while this node serves a job (the write is the
/// node's entry in <see cref="Store.JobMembers"/>, which rejoining nodes read). An outage pauses the
/// job (the coordinator cannot journal, and its lease cannot be renewed or taken), which on its
/// own would look like a hang: this says so once on the console, says so again when the store is
/// back, and past the outage limit completes <see cref="Gone"/> with one line, so that every node
/// ends instead of waiting forever. Nothing is lost: the same command resumes the job later.
/// </summary>
public sealed class StoreWatch : IDisposable
{
    private static readonly TimeSpan Period = TimeSpan.FromSeconds(2);
    private readonly TaskCompletionSource<string> _gone = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _stop = new();

    /// <param name="write">The periodic write, bounded by the timeout it is given.</param>
    public StoreWatch(JournalStore store, Func<TimeSpan, Task> write, TimeSpan limit, TextWriter console)
    {
        _ = Task.Run(async () =>
        {
            DateTime? since = null;
            while (!_stop.IsCancellationRequested)
            {
                try
                {
                    await write(Period);
                    if (since is not null) console.WriteLine($"store {store.Description} is back after {(DateTime.UtcNow - since.Value).TotalSeconds:0} s");
                    since = null;
                }
                catch (Exception e) when (e is not OperationCanceledException || !_stop.IsCancellationRequested)
                {
                    var reason = Configuration.HoconFiles.FirstLine(e.GetBaseException().Message);
                    if (since is null) console.WriteLine($"store {store.Description} unreachable ({reason}); the job pauses until it is back");
                    since ??= DateTime.UtcNow;
                    if (DateTime.UtcNow - since.Value >= limit)
                    {
                        _gone.TrySetResult($"the store ({store.Description}) has been unreachable for {limit.TotalSeconds:0} s ({reason}); run the same command to resume the job once it is back");
                        return;
                    }
                }
                try { await Task.Delay(Period, _stop.Token); } catch (OperationCanceledException) { return; }
            }
        });
    }

    /// <summary>Completes with one line for the user once the store has been gone past the limit.</summary>
    public Task<string> Gone => _gone.Task;

    public void Dispose() => _stop.Cancel();
}
