using System.Text.Json;
using System.Text.Json.Serialization;
using System.Threading.Channels;
using Akka.Actor;
using ElasticTrain.Coordination;
using ElasticTrain.Jobs;

namespace ElasticTrain.Cli.WebConsole;

/// <summary>
/// Between the node's console feed (an actor, replaced when the node rejoins) and the browsers
/// watching it (server-sent events). It outlives the actor system, like the HTTP server. Each
/// browser gets a bounded queue; one that falls behind is dropped and reconnects, which gives it a
/// fresh snapshot, so a slow page never holds the feed back.
/// </summary>
public sealed class ConsoleHub
{
    /// <summary>Events a browser may have pending before it is dropped.</summary>
    private const int Backlog = 512;

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        Converters = { new RankIdText() },
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    private readonly Lock _gate = new();
    private readonly List<Channel<string>> _browsers = [];
    private volatile IActorRef? _feed;

    /// <summary>What the page shows: the history so far and the last status; asked of the feed.</summary>
    public sealed record Snapshot(JobHistory History, ConsoleStatus? Status);

    /// <summary>A snapshot request to the feed.</summary>
    public sealed record GetSnapshot
    {
        public static readonly GetSnapshot Instance = new();
    }

    public void Attach(IActorRef feed) => _feed = feed;

    /// <summary>The feed stops: no snapshots until the next attaches (a rejoin may attach it first).</summary>
    public void Detach(IActorRef feed) => Interlocked.CompareExchange(ref _feed, null, feed);

    /// <summary>Sends an event to every browser watching.</summary>
    public void Push(string name, object data)
    {
        var text = Event(name, data);
        lock (_gate)
        {
            for (int i = _browsers.Count - 1; i >= 0; i--)
            {
                if (_browsers[i].Writer.TryWrite(text)) continue;
                _browsers[i].Writer.TryComplete();
                _browsers.RemoveAt(i);
            }
        }
    }

    /// <summary>
    /// The stream of one browser: a snapshot first, then every event. It registers before it asks
    /// for the snapshot, so nothing falls between the two; the page ignores what it already has.
    /// </summary>
    public async IAsyncEnumerable<string> WatchAsync([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellation)
    {
        var channel = Channel.CreateBounded<string>(new BoundedChannelOptions(Backlog) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });
        lock (_gate) _browsers.Add(channel);
        try
        {
            yield return Event("snapshot", await SnapshotAsync());
            await foreach (var text in channel.Reader.ReadAllAsync(cancellation)) yield return text;
        }
        finally
        {
            lock (_gate) _browsers.Remove(channel);
        }
    }

    /// <summary>The page's state now; empty while the node has no feed (starting, or rejoining).</summary>
    public async Task<Snapshot> SnapshotAsync()
    {
        if (_feed is { } feed)
        {
            try { return await feed.Ask<Snapshot>(GetSnapshot.Instance, TimeSpan.FromSeconds(2)); }
            catch (Exception e) when (e is AskTimeoutException or TaskCanceledException) { }
        }
        return new Snapshot(new JobHistory("", 0, [], [], [], [], null), null);
    }

    public static string ToJson(object data) => JsonSerializer.Serialize(data, data.GetType(), Json);

    private static string Event(string name, object data) => $"event: {name}\ndata: {ToJson(data)}\n\n";

    /// <summary>Ranks as the CLI writes them ("HOST:PORT/rI"), not as nested objects.</summary>
    private sealed class RankIdText : JsonConverter<RankId>
    {
        public override RankId Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) => RankId.Parse(reader.GetString()!);
        public override void Write(Utf8JsonWriter writer, RankId value, JsonSerializerOptions options) => writer.WriteStringValue(value.ToString());
    }
}
