using Akka.Configuration;
using ElasticTrain.Collectives;
using ElasticTrain.Configuration;
using ElasticTrain.Coordination;
using ElasticTrain.Jobs;
using ElasticTrain.Models;
using ElasticTrain.ParameterServer;
using ElasticTrain.Pipeline;
using ElasticTrain.Training;

namespace ElasticTrain.Cli.Hosting;

/// <summary>
/// Everything a node process needs, read and validated from the merged HOCON (flags over --config
/// over the embedded defaults) before any actor starts.
/// </summary>
/// <param name="Store">As given: empty for the default SQLite file, a path, or a PostgreSQL connection string.</param>
/// <param name="Collective">How ranks combine gradients: an all-reduce of <see cref="ElasticTrain.Collectives.Collective.Names"/>, or ps (parameter shards, <see cref="TrainingRecipe.ParameterServer"/>).</param>
/// <param name="DataPlaneSecret">As given by the operator; empty: the job's secret from the store (<see cref="Store.JobSecret"/>).</param>
/// <param name="HttpPort">The port of the console, /metrics and /health (0: any free port); null: no HTTP server, or auto.</param>
/// <param name="HttpAuto">The port is `auto`: a free port for `train`, none for `node` (<see cref="HttpPortFor"/>).</param>
/// <param name="HttpToken">The operator token as given; empty: the job's own.</param>
/// <param name="HttpHost">Where the HTTP server binds: as given, or the node's own hostname.</param>
/// <param name="Recipe">The optimizer, learning-rate schedule, clipping and micro-batch size (<c>elastictrain.job.*</c>); `train` gives them to the job.</param>
/// <param name="Mesh">The mesh the job asks for (<c>elastictrain.parallel.*</c>); what `train` gives the job, null values meaning auto.</param>
/// <param name="Slowdown">
/// <c>elastictrain.debug.slowdown</c>: a factor of at least 1 by which this node's ranks stretch each
/// step's compute (sleeping factor - 1 times it), to make one node slow for benchmarks. Per node, and
/// no part of the job's identity: it changes when updates arrive, not what they are.
/// </param>
/// <param name="StartRanks">`train`: the ranks over all nodes a new job's first step waits for (0: this node's own).</param>
public sealed record HostSettings(
    JobConfig Job,
    int Ranks,
    string Device,
    string DataDirectory,
    string Store,
    string Metrics,
    string TraceSamples,
    string Collective,
    TimeSpan ExchangeTimeout,
    long BucketBytes,
    int DataPlanePort,
    string Hostname,
    int Port,
    string Join,
    int IntraOpThreads,
    MklKernelChoice MklKernels,
    TimeSpan StoreOutageLimit,
    string DataPlaneSecret,
    int? HttpPort,
    bool HttpAuto,
    string HttpHost,
    string HttpToken,
    MeshRequest Mesh,
    TrainingRecipe Recipe,
    double Slowdown,
    int StartRanks = 0)
{
    public static HostSettings FromConfig(Config config)
    {
        var root = new SettingsReader(config, "elastictrain");
        var remote = new SettingsReader(config, "akka.remote.dot-netty.tcp");
        var http = new SettingsReader(config, "elastictrain.http");
        var parallel = new SettingsReader(config, "elastictrain.parallel");
        var hostname = remote.String("hostname");
        var job = JobConfig.FromConfig(config);
        var settings = new HostSettings(
            Job: job,
            Ranks: root.Int("ranks", 1, 1024),
            Device: root.OneOf("device", "cpu", "cuda"),
            DataDirectory: root.String("data-directory"),
            Store: root.String("store"),
            Metrics: root.String("metrics"),
            TraceSamples: root.String("trace-samples"),
            // Collective.Names are the all-reduce algorithms a rank builds as its exchange; ps is no
            // all-reduce (a rank in ps mode builds no ring), so it is a choice here, not in that registry.
            Collective: root.OneOf("collective", [.. ElasticTrain.Collectives.Collective.Names, ParameterServerSettings.Collective]),
            ExchangeTimeout: root.Duration("exchange-timeout"),
            BucketBytes: root.Bytes("bucket-size", 0, 1L << 30),
            DataPlanePort: root.Int("data-plane-port", 0, 65535),
            Hostname: hostname,
            Port: remote.Int("port", 0, 65535),
            Join: root.String("join"),
            IntraOpThreads: root.Int("intra-op-threads", 0, 1024),
            MklKernels: Models.MklKernels.Parse(root.String("mkl-kernels")),
            StoreOutageLimit: root.Duration("store-outage-limit"),
            DataPlaneSecret: root.String("data-plane-secret"),
            HttpPort: http.String("port") is "off" or "" or "auto" ? null : http.Int("port", 0, 65535),
            HttpAuto: http.String("port") == "auto",
            HttpHost: http.String("host") is { Length: > 0 } httpHost ? httpHost : hostname,
            // A token read from a file (a Kubernetes Secret) often ends in a newline; the bearer is trimmed too.
            HttpToken: http.String("token").Trim(),
            Mesh: ReadMesh(parallel),
            Recipe: TrainingRecipe.FromConfig(config, job),
            Slowdown: ReadSlowdown(new SettingsReader(config, "elastictrain.debug")),
            StartRanks: root.Int("start-ranks", 0, 1 << 20));
        if (settings.Join.Length > 0 && !HostPort.TryParse(settings.Join, out _, out _))
            throw new SettingsException($"--join must be HOST:PORT, not '{settings.Join}'");
        if (settings.DataPlaneSecret.Length > 0 && System.Text.Encoding.UTF8.GetByteCount(settings.DataPlaneSecret) < Collectives.Transport.DataPlaneHandshake.MinSecretBytes)
            throw new SettingsException($"elastictrain.data-plane-secret must have at least {Collectives.Transport.DataPlaneHandshake.MinSecretBytes} bytes (e.g. `openssl rand -hex 32`), or be empty for the job's secret from the store");
        if (settings.DataDirectory.Length == 0)
            throw new SettingsException("elastictrain.data-directory must not be empty");
        if (settings.Job.GlobalBatch < settings.Ranks)
            throw new SettingsException($"global batch {settings.Job.GlobalBatch} is smaller than the {settings.Ranks} ranks: every rank needs at least one sample per step");
        // Evaluation runs whole replicas forward, and a parameter server's workers each hold a whole
        // model to push and pull; pipeline stages can do neither yet.
        if (settings.Recipe.HoldsOut) settings = settings.WithoutStages("elastictrain.job.eval-every");
        if (settings.Recipe.ParameterServer is not null) settings = settings.WithoutStages($"elastictrain.collective = {ParameterServerSettings.Collective}");
        return settings;
    }

    /// <summary>The mesh with one stage (auto becomes 1), or the refusal of <paramref name="setting"/>, which needs that.</summary>
    private HostSettings WithoutStages(string setting) => Mesh.Stages is > 1
        ? throw new SettingsException($"{setting} needs plain data parallelism: elastictrain.parallel.stages must be 1 or auto, not {Mesh.Stages}")
        : this with { Mesh = Mesh with { Stages = 1 } };

    private static double ReadSlowdown(SettingsReader debug)
    {
        var factor = debug.Double("slowdown", double.NegativeInfinity, double.PositiveInfinity);
        if (!double.IsFinite(factor) || factor < 1)
            throw new SettingsException($"elastictrain.debug.slowdown must be a factor of at least 1 (1: full speed), not {factor.ToString(System.Globalization.CultureInfo.InvariantCulture)}");
        return factor;
    }

    /// <summary>The port this command serves HTTP on: as set, or for `auto`, any free one where the command serves by default.</summary>
    public int? HttpPortFor(bool servesByDefault) => HttpAuto ? (servesByDefault ? 0 : null) : HttpPort;

    private static MeshRequest ReadMesh(SettingsReader parallel)
    {
        var schedule = parallel.String("schedule");
        ScheduleKind kind;
        try { kind = ScheduleKinds.Parse(schedule); }
        catch (ArgumentException) { throw new SettingsException($"elastictrain.parallel.schedule must be one of 1f1b, gpipe, not '{schedule}'"); }
        return new MeshRequest(
            Stages: parallel.AutoInt("stages", 1, 1024),
            MicroBatches: parallel.AutoInt("micro-batches", 1, 1 << 20),
            Schedule: kind,
            RankMemory: parallel.AutoBytes("rank-memory", 1, long.MaxValue),
            PeerCopyEvery: parallel.Int("peer-copy-every", 1, int.MaxValue));
    }

    /// <summary>
    /// What one local rank may hold, in bytes: as configured (<c>elastictrain.parallel.rank-memory</c>),
    /// or (auto) the memory this process may use (the GC's view: the machine's, or the container's
    /// limit) divided among its ranks. Resolved per node: nodes of one job may differ.
    /// </summary>
    public long RankMemoryBytes => Mesh.RankMemory ?? GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / Ranks;

    /// <summary>
    /// libtorch's intra-op threads for this process: as configured, or (0, automatic) the cores split
    /// between the local ranks so that they do not oversubscribe them.
    /// </summary>
    public int TorchThreads => IntraOpThreads > 0 ? IntraOpThreads : Math.Max(1, Environment.ProcessorCount / Ranks);

    /// <summary>Akka's log (cluster events, warnings, stack traces), kept out of the console.</summary>
    public string LogFile => Path.Combine(DataDirectory, "logs", "elastictrain.log");

    /// <summary>The checkpoint folder, beside the embedded store.</summary>
    public string CheckpointDirectory => Path.Combine(DataDirectory, "checkpoints");
}
