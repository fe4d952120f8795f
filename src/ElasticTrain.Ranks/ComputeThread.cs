using System.Collections.Concurrent;
using Akka.Actor;

namespace ElasticTrain.Ranks;

/// <summary>
/// A dedicated thread that runs posted work in order: a rank's tensor work, or its gradient
/// exchange. A forward/backward pass takes hundreds of milliseconds and an exchange blocks on its
/// peers; run on Akka's dispatcher (the .NET thread pool) they would starve heartbeats and gossip.
/// The rank actor posts work here and the work reports back by message.
/// </summary>
public sealed class ComputeThread : IDisposable
{
    private readonly BlockingCollection<Action> _work = new();
    private readonly Thread _thread;
    private readonly int _torchThreads;
    private int _disposed;

    /// <param name="torchThreads">libtorch's intra-op threads for the work run here (see <see cref="Models.TorchRuntime.UseThreads"/>).</param>
    public ComputeThread(string name, int torchThreads)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(torchThreads, 1);
        _torchThreads = torchThreads;
        _thread = new Thread(Run) { Name = name, IsBackground = true };
        _thread.Start();
    }

    public void Post(Action work) => _work.Add(work);

    /// <summary>
    /// Runs <paramref name="work"/> here and tells <paramref name="reportTo"/> what it returns (nothing
    /// for null), or <paramref name="failed"/>'s message for why it threw. Work whose
    /// <paramref name="cancellation"/> came before it started is skipped, and work cancelled under it
    /// reports nothing: nobody waits for it any more.
    /// </summary>
    public void Run(IActorRef reportTo, CancellationToken cancellation, Func<CancellationToken, object?> work, Func<string, object> failed) =>
        Post(() =>
        {
            if (cancellation.IsCancellationRequested) return;
            try
            {
                if (work(cancellation) is { } done) reportTo.Tell(done);
            }
            catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
            {
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                reportTo.Tell(failed(e.Message.ReplaceLineEndings(" ")));
            }
        });

    private void Run()
    {
        Models.TorchRuntime.UseThreads(_torchThreads);
        foreach (var work in _work.GetConsumingEnumerable())
            work();
        // Here, not in Dispose: work that disposes its own thread is still inside this loop.
        _work.Dispose();
    }

    /// <summary>Lets queued work finish, then ends the thread; called by work running on it, ends it after that work.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1) return;
        _work.CompleteAdding();
        if (Thread.CurrentThread != _thread) _thread.Join();
    }
}
