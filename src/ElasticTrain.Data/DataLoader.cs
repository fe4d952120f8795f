using Akka.Actor;
using Akka.Event;

namespace ElasticTrain.Data;

/// <summary>
/// One per rank. Reads exactly the samples the coordinator assigns to its rank: a slice of a step's
/// positions in the epoch permutation. The coordinator announces the next step's slice with the
/// current one, so the loader has it ready (prefetched) when the rank asks.
/// Messages stay inside the process (loader and rank are co-located), so they carry no wire marker.
/// </summary>
public sealed class DataLoader : ReceiveActor
{
    /// <summary>Ask for a slice; the reply is a <see cref="SliceBatch"/> to the sender.</summary>
    public sealed record Fetch(long Generation, long Step, int Offset, int Count);

    /// <summary>Load a slice ahead of time; no reply.</summary>
    public sealed record Prefetch(long Generation, long Step, int Offset, int Count);

    /// <param name="SampleIds">Window ids in the corpus, in slice order (for audit and tests).</param>
    /// <param name="Tokens">SampleIds.Length windows of block+1 bytes each, as token ids.</param>
    public sealed record SliceBatch(long Generation, long Step, int Offset, int[] SampleIds, long[] Tokens);

    /// <summary>Ask for positions [Offset, Offset + Count) of the held-out windows; the reply is a <see cref="HeldOutBatch"/>.</summary>
    public sealed record FetchHeldOut(long Generation, long Step, int Offset, int Count);

    /// <param name="Step">The committed step the evaluation is of.</param>
    public sealed record HeldOutBatch(long Generation, long Step, int[] SampleIds, long[] Tokens);

    /// <param name="heldOut">The windows held out of training for evaluation (see <see cref="HeldOutSplit"/>); null: none.</param>
    public static Props Props(WindowDataset dataset, EpochSchedule schedule, IReadOnlyList<int>? heldOut = null) =>
        Akka.Actor.Props.Create(() => new DataLoader(dataset, schedule, heldOut ?? Array.Empty<int>()));

    // Prefetched slices, keyed by what was asked for; a step's slice is used once, so the cache
    // never holds more than the one or two steps in flight.
    private readonly Dictionary<(long Step, int Offset, int Count), SliceBatch> _ready = [];
    private readonly ILoggingAdapter _log = Context.GetLogger();

    public DataLoader(WindowDataset dataset, EpochSchedule schedule, IReadOnlyList<int> heldOut)
    {
        SliceBatch Load(long generation, long step, int offset, int count)
        {
            // Global steps are 1-based; the schedule counts from 0.
            var ids = schedule.SampleIds(step - 1, offset, count);
            return new SliceBatch(generation, step, offset, ids, dataset.ReadWindows(ids));
        }

        Receive<Prefetch>(p =>
        {
            var key = (p.Step, p.Offset, p.Count);
            if (!_ready.ContainsKey(key)) _ready[key] = Load(p.Generation, p.Step, p.Offset, p.Count);
            foreach (var stale in _ready.Keys.Where(k => k.Step < p.Step - 1).ToList()) _ready.Remove(stale);
        });

        Receive<Fetch>(f =>
        {
            var key = (f.Step, f.Offset, f.Count);
            var batch = _ready.Remove(key, out var ready) ? ready with { Generation = f.Generation } : Load(f.Generation, f.Step, f.Offset, f.Count);
            _log.Debug("step {0}: slice [{1}, {2}) {3}", f.Step, f.Offset, f.Offset + f.Count, ready is null ? "loaded on demand" : "prefetched");
            Sender.Tell(batch);
        });

        // Not prefetched: an evaluation comes every few hundred steps and reads a few hundred windows.
        Receive<FetchHeldOut>(f =>
        {
            var ids = heldOut.Skip(f.Offset).Take(f.Count).ToArray();
            Sender.Tell(new HeldOutBatch(f.Generation, f.Step, ids, dataset.ReadWindows(ids)));
        });
    }
}
