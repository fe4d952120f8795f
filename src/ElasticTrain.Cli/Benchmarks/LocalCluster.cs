using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace ElasticTrain.Cli.Benchmarks;

/// <summary>
/// One job in <c>elastictrain</c> processes on this machine (<see cref="CliProcess"/>): a <c>train</c>
/// node and any number of <c>node --join</c> nodes, each with one rank and the same libtorch threads,
/// sharing a SQLite journal and a metrics file in a fresh temporary folder. They talk over loopback,
/// or, given a <see cref="NamespaceNetwork"/>, each from a host of its own on that network. Disposing
/// it kills every process it started (also when this process exits first) and removes the folder.
/// </summary>
public sealed class LocalCluster : IDisposable
{
    /// <summary>Steps the job is told to run: more than any benchmark waits for; it is killed when measured.</summary>
    private const int JobSteps = 1_000_000;

    private readonly List<Member> _members = [];
    private readonly int _globalBatch;
    private readonly BenchFolder _folder = new();
    private readonly NamespaceNetwork? _network;
    private readonly string _settings;
    private readonly IReadOnlyList<string> _processSettings;
    private int _port;

    /// <param name="settings">HOCON every process runs with (e.g. a bucket size), under the benchmark's thread setting.</param>
    /// <param name="network">Hosts for the processes, the n-th process on host n; null for loopback.</param>
    /// <param name="threads">libtorch threads of each process.</param>
    /// <param name="processSettings">HOCON the n-th process (0: the train node) runs with over <paramref name="settings"/>
    /// (e.g. one node's <c>elastictrain.debug.slowdown</c>); a process past its end gets none.</param>
    public LocalCluster(int globalBatch, string settings = "", NamespaceNetwork? network = null, int threads = 1,
        IReadOnlyList<string>? processSettings = null)
    {
        _globalBatch = globalBatch;
        _network = network;
        _settings = settings + $"\nelastictrain.intra-op-threads = {Invariant(threads)}\n";
        _processSettings = processSettings ?? [];
        AppDomain.CurrentDomain.ProcessExit += KillAll;
    }

    public string Folder => _folder.Path;

    /// <summary>Where the coordinator, on whichever node it runs, appends a record per committed step.</summary>
    public string Metrics => Path.Combine(Folder, "metrics.jsonl");

    /// <summary>How many processes have been started.</summary>
    public int Started => _members.Count;

    /// <summary>A process that has ended, if any has.</summary>
    public Member? Exited => _members.FirstOrDefault(m => m.Process.HasExited);

    /// <summary>Starts the job's first node, at a free loopback port.</summary>
    /// <param name="jobFlags">More <c>train</c> flags that say what the job trains and how (e.g. <c>--mode ps</c>, <c>--model</c>).</param>
    public Member StartTrain(params string[] jobFlags)
    {
        if (_members.Count > 0) throw new InvalidOperationException("the job's train node is already started");
        _port = FreePort();
        return Start("train", ["train", "--job", "bench", "--port", Invariant(_port), .. HostFlag(0),
            "--global-batch", Invariant(_globalBatch), "--steps", Invariant(JobSteps), "--checkpoint-every", Invariant(JobSteps), .. jobFlags]);
    }

    /// <summary>Starts one more node that joins the job through the train node.</summary>
    public Member StartNode()
    {
        if (_members.Count == 0) throw new InvalidOperationException("start the train node first");
        var host = _members.Count;
        return Start($"node {host + 1}", ["node", "--join", $"{_network?.Address(0) ?? "127.0.0.1"}:{Invariant(_port)}", .. HostFlag(host)]);
    }

    /// <summary>
    /// Whether the train node accepts connections at its port yet (loopback only). A node that
    /// joins gives up after 10 s without an answer, which a train node still starting on a busy
    /// machine can take.
    /// </summary>
    public bool TrainListening()
    {
        if (_members.Count == 0 || _network is not null) return false;
        using var client = new TcpClient();
        try
        {
            client.Connect(IPAddress.Loopback, _port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    /// <summary>On a network, where the n-th process listens; on loopback nothing (the default host).</summary>
    private string[] HostFlag(int host) => _network is null ? [] : ["--host", _network.Address(host)];

    private Member Start(string name, string[] args)
    {
        // A file per process: the settings of one process (a straggler) reach no other.
        var config = Path.Combine(Folder, $"bench{_members.Count + 1}.conf");
        File.WriteAllText(config, _settings + (_members.Count < _processSettings.Count ? _processSettings[_members.Count] + "\n" : ""));
        var member = new Member(name, CliProcess.Start(
            [.. args, "--plain", "--ranks", "1", "--config", config, "--data-dir", Path.Combine(Folder, $"node{_members.Count + 1}"),
             "--store", Path.Combine(Folder, "journal.db"), "--metrics", Metrics],
            redirectInput: true, networkNamespace: _network?.Namespace(_members.Count)));
        _members.Add(member);
        return member;
    }

    /// <summary>A loopback port that was free a moment ago (another process may take it first).</summary>
    public static int FreePort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    private static string Invariant(int value) => value.ToString(CultureInfo.InvariantCulture);

    private void KillAll(object? sender, EventArgs e)
    {
        foreach (var member in _members) member.Process.Dispose();
    }

    public void Dispose()
    {
        AppDomain.CurrentDomain.ProcessExit -= KillAll;
        KillAll(null, EventArgs.Empty);
        // Its output ends when a process and its children are gone: only then is the folder theirs no more.
        Task.WaitAll(_members.Select(m => m.Drained).ToArray(), TimeSpan.FromSeconds(10));
        _folder.Dispose();
    }

    /// <summary>A process of the job; keeps its last lines of output (stdout and stderr as they came) for an error message.</summary>
    public sealed class Member
    {
        private const int KeptLines = 20;
        private readonly Queue<string> _lines = new();

        public Member(string name, CliProcess process)
        {
            Name = name;
            Process = process;
            Drained = Task.WhenAll(Keep(process.Output), Keep(process.Error));
        }

        public string Name { get; }

        public CliProcess Process { get; }

        /// <summary>Completes when both output streams have ended.</summary>
        public Task Drained { get; }

        public IReadOnlyList<string> LastLines { get { lock (_lines) return [.. _lines]; } }

        private async Task Keep(StreamReader stream)
        {
            try
            {
                while (await stream.ReadLineAsync() is { } line)
                {
                    lock (_lines)
                    {
                        _lines.Enqueue(line);
                        if (_lines.Count > KeptLines) _lines.Dequeue();
                    }
                }
            }
            catch (Exception e) when (e is IOException or ObjectDisposedException)
            {
                // The process was killed and disposed: nothing more to read.
            }
        }
    }
}
