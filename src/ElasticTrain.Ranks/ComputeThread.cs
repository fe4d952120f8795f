using System.Collections.Concurrent;

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

    public ComputeThread(string name)
    {
        _thread = new Thread(Run) { Name = name, IsBackground = true };
        _thread.Start();
    }

    public void Post(Action work) => _work.Add(work);

    private void Run()
    {
        foreach (var work in _work.GetConsumingEnumerable())
            work();
    }

    /// <summary>Lets queued work finish, then ends the thread.</summary>
    public void Dispose()
    {
        _work.CompleteAdding();
        if (Thread.CurrentThread != _thread) _thread.Join();
        _work.Dispose();
    }
}
