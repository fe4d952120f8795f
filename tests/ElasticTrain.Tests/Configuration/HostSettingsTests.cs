using System.CommandLine;
using ElasticTrain.Cli.Commands;
using ElasticTrain.Cli.Hosting;
using ElasticTrain.Configuration;
using ElasticTrain.Coordination;
using ElasticTrain.Jobs;
using ElasticTrain.Pipeline;
using static ElasticTrain.Tests.Support.TestSettings;

namespace ElasticTrain.Tests.Configuration;

public class HostSettingsTests
{
    [Fact]
    public void Defaults_are_the_documented_ones()
    {
        var s = Read();
        Assert.Equal(new JobConfig("main", "gpt", 4, 4, 256, 128, 16, 2000, 3e-4, 0.01, 1, "", 50), s.Job);
        Assert.Equal(2, s.Ranks);
        Assert.Equal("cpu", s.Device);
        Assert.Equal("data", s.DataDirectory);
        Assert.Equal("", s.Store);
        Assert.Equal("", s.Metrics);
        Assert.Equal("ring", s.Collective);
        Assert.Equal(TimeSpan.FromSeconds(60), s.ExchangeTimeout);
        Assert.Equal("127.0.0.1", s.Hostname);
        Assert.Equal(0, s.Port);
        Assert.Equal(0, s.IntraOpThreads);
        Assert.Equal(1L << 20, s.BucketBytes);
        Assert.Equal(0, s.DataPlanePort);
        // auto: `train` serves its console on a free port, `node` only when asked.
        Assert.Equal(0, s.HttpPortFor(servesByDefault: true));
        Assert.Null(s.HttpPortFor(servesByDefault: false));
        Assert.Equal("127.0.0.1", s.HttpHost);
        Assert.Equal("", s.HttpToken);
        Assert.Equal(MeshRequest.Auto, s.Mesh);
        Assert.Equal(1, s.Mesh.PeerCopyEvery);
        Assert.Equal(1.0, s.Slowdown);
    }

    [Fact]
    public void Slowdown_is_a_factor_of_this_node_alone()
    {
        var slow = Read("elastictrain.debug.slowdown = 2.5");
        Assert.Equal(2.5, slow.Slowdown);
        Assert.Equal(Read().Job.IdentityHash("data-1", Read().Recipe), slow.Job.IdentityHash("data-1", slow.Recipe));
    }

    [Theory]
    [InlineData("elastictrain.parallel.stages = 3", 3, null, ScheduleKind.OneFOneB, null, 1)]
    [InlineData("elastictrain.parallel.micro-batches = 8", null, 8, ScheduleKind.OneFOneB, null, 1)]
    [InlineData("elastictrain.parallel.schedule = gpipe", null, null, ScheduleKind.GPipe, null, 1)]
    [InlineData("elastictrain.parallel.rank-memory = 2 GiB", null, null, ScheduleKind.OneFOneB, 2L << 30, 1)]
    [InlineData("elastictrain.parallel.rank-memory = 65536", null, null, ScheduleKind.OneFOneB, 65536L, 1)]
    [InlineData("elastictrain.parallel.peer-copy-every = 5", null, null, ScheduleKind.OneFOneB, null, 5)]
    [InlineData("elastictrain.parallel { stages = auto, micro-batches = auto, rank-memory = auto }", null, null, ScheduleKind.OneFOneB, null, 1)]
    public void Parallel_keys_read_auto_as_null_and_values_as_given(string hocon, int? stages, int? microBatches, ScheduleKind schedule, long? rankMemory, int peerCopyEvery) =>
        Assert.Equal(new MeshRequest(stages, microBatches, schedule, rankMemory, peerCopyEvery), Read(hocon).Mesh);

    [Fact]
    public void Rank_memory_is_as_configured_or_the_available_memory_divided_among_the_local_ranks()
    {
        Assert.Equal(3L << 30, Read("elastictrain.parallel.rank-memory = 3 GiB").RankMemoryBytes);
        var available = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        Assert.Equal(available / 2, Read().RankMemoryBytes);
        Assert.Equal(available / 4, Read("elastictrain.ranks = 4").RankMemoryBytes);
    }

    [Fact]
    public void Train_flags_override_the_config_files_parallel_keys()
    {
        var flags = new HoconFlags().AddParallel();
        var command = new Command("train");
        flags.AddTo(command);
        var parse = command.Parse(["--stages", "2", "--micro-batches", "6", "--schedule", "gpipe", "--rank-memory", "512 MiB"]);
        var file = HoconFiles.Parse("elastictrain.parallel { stages = 4, micro-batches = 2, schedule = 1f1b, rank-memory = 1 GiB, peer-copy-every = 3 }", "file");
        var settings = HostSettings.FromConfig(flags.Overrides(parse).WithFallback(file).WithFallback(NodeConfig.Defaults()));
        Assert.Equal(new MeshRequest(2, 6, ScheduleKind.GPipe, 512L << 20, PeerCopyEvery: 3), settings.Mesh);
        Assert.Equal(new MeshRequest(null, null, ScheduleKind.OneFOneB, null),
            HostSettings.FromConfig(flags.Overrides(command.Parse(["--stages", "auto", "--rank-memory", "auto"])).WithFallback(NodeConfig.Defaults())).Mesh);
    }

    [Fact]
    public void The_http_server_serves_train_by_default_node_when_asked_and_binds_the_node_host_by_default()
    {
        Assert.Null(Read("elastictrain.http.port = off").HttpPortFor(servesByDefault: true));
        Assert.Equal(0, Read("elastictrain.http.port = 0").HttpPortFor(servesByDefault: false));
        Assert.Equal(9090, Read("elastictrain.http.port = \"9090\"").HttpPortFor(servesByDefault: false));
        Assert.Equal(0, Read("elastictrain.http.port = auto").HttpPortFor(servesByDefault: true));
        Assert.Null(Read("elastictrain.http.port = auto").HttpPortFor(servesByDefault: false));
        Assert.Equal("10.0.0.5", Read("akka.remote.dot-netty.tcp.hostname = 10.0.0.5").HttpHost);
        Assert.Equal("0.0.0.0", Read("akka.remote.dot-netty.tcp.hostname = 10.0.0.5, elastictrain.http.host = 0.0.0.0").HttpHost);
    }

    [Theory]
    [InlineData("elastictrain.bucket-size = 0", 0L)]
    [InlineData("elastictrain.bucket-size = 25 MiB", 25L << 20)]
    [InlineData("elastictrain.bucket-size = 65536", 65536L)]
    public void Bucket_size_reads_sizes_with_units(string hocon, long bytes) => Assert.Equal(bytes, Read(hocon).BucketBytes);

    [Fact]
    public void Intra_op_threads_are_automatic_at_0_and_exact_otherwise()
    {
        Assert.Equal(Math.Max(1, Environment.ProcessorCount / 2), Read().TorchThreads);
        Assert.Equal(Environment.ProcessorCount, Read("elastictrain.ranks = 1").TorchThreads);
        Assert.Equal(3, Read("elastictrain.intra-op-threads = 3").TorchThreads);
    }

    [Fact]
    public void Earlier_config_overrides_later_fallback()
    {
        var s = Read("elastictrain { ranks = 3, job { model = mlp, global-batch = 9 } }");
        Assert.Equal(3, s.Ranks);
        Assert.Equal("mlp", s.Job.Model);
        Assert.Equal(9, s.Job.GlobalBatch);
    }

    [Theory]
    [InlineData("elastictrain.ranks = 0", "elastictrain.ranks must be between 1 and 1024, not 0")]
    [InlineData("elastictrain.ranks = three", "elastictrain.ranks must be a whole number, not 'three'")]
    [InlineData("elastictrain.job.model = rnn", "elastictrain.job.model must be one of gpt, mlp, not 'rnn'")]
    [InlineData("elastictrain.job.width = 30", "elastictrain.job.width (30) must be divisible by heads (4)")]
    [InlineData("elastictrain.job.global-batch = 1", "global batch 1 is smaller than the 2 ranks: every rank needs at least one sample per step")]
    [InlineData("elastictrain.job.learning-rate = -1", "elastictrain.job.learning-rate must be between 0 and 10, not -1")]
    [InlineData("elastictrain.job.learning-rate = 0", "elastictrain.job.learning-rate must be greater than 0, not 0")]
    [InlineData("elastictrain.job.id = \"a b\"", "elastictrain.job.id must be 1-100 letters, digits, '-', '_' or '.', not 'a b'")]
    [InlineData("elastictrain.device = tpu", "elastictrain.device must be one of cpu, cuda, not 'tpu'")]
    [InlineData("elastictrain.intra-op-threads = -1", "elastictrain.intra-op-threads must be between 0 and 1024, not -1")]
    [InlineData("elastictrain.bucket-size = 2 GiB", "elastictrain.bucket-size must be between 0 and 1073741824 bytes, not 2147483648")]
    [InlineData("elastictrain.data-plane-port = 70000", "elastictrain.data-plane-port must be between 0 and 65535, not 70000")]
    [InlineData("elastictrain.http.port = on", "elastictrain.http.port must be a whole number, not 'on'")]
    [InlineData("elastictrain.http.port = 70000", "elastictrain.http.port must be between 0 and 65535, not 70000")]
    [InlineData("elastictrain.parallel.stages = 0", "elastictrain.parallel.stages must be between 1 and 1024, not 0")]
    [InlineData("elastictrain.parallel.micro-batches = x", "elastictrain.parallel.micro-batches must be a whole number, not 'x'")]
    [InlineData("elastictrain.parallel.schedule = zigzag", "elastictrain.parallel.schedule must be one of 1f1b, gpipe, not 'zigzag'")]
    [InlineData("elastictrain.parallel.rank-memory = lots", "elastictrain.parallel.rank-memory must be a size such as 4 MiB, not 'lots'")]
    [InlineData("elastictrain.parallel.peer-copy-every = 0", "elastictrain.parallel.peer-copy-every must be at least 1, not 0")]
    [InlineData("elastictrain.debug.slowdown = 0.5", "elastictrain.debug.slowdown must be a factor of at least 1 (1: full speed), not 0.5")]
    [InlineData("elastictrain.debug.slowdown = fast", "elastictrain.debug.slowdown must be a number, not 'fast'")]
    public void Invalid_settings_name_the_key_and_the_value(string hocon, string message)
    {
        var error = Assert.Throws<SettingsException>(() => Read(hocon));
        Assert.Equal(message, error.Message);
    }

    [Fact]
    public void Identity_ignores_steps_checkpoint_period_and_id_but_not_the_math()
    {
        var job = Read().Job;
        var hash = job.IdentityHash("data-1");
        Assert.Equal(hash, (job with { Steps = 5, CheckpointEvery = 7, Id = "other" }).IdentityHash("data-1"));
        Assert.NotEqual(hash, job.IdentityHash("data-2"));
        Assert.NotEqual(hash, (job with { LearningRate = 1e-3 }).IdentityHash("data-1"));
        Assert.NotEqual(hash, (job with { GlobalBatch = 32 }).IdentityHash("data-1"));
        Assert.NotEqual(hash, (job with { Seed = 2 }).IdentityHash("data-1"));
        Assert.Equal(["model gpt -> mlp"], (job with { Model = "mlp" }).IdentityDifferences(job));
    }
}
