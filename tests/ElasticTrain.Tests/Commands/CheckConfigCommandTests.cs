using ElasticTrain.Cli;

namespace ElasticTrain.Tests.Commands;

public class CheckConfigCommandTests : IDisposable
{
    private readonly string _folder = Path.Combine(Path.GetTempPath(), "et-check-" + Guid.NewGuid().ToString("N"));

    public CheckConfigCommandTests() => Directory.CreateDirectory(_folder);

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private static async Task<(int Code, string Output, string Error)> Check(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var code = await CliApp.RunAsync(["check-config", .. args], error, output: output);
        return (code, output.ToString().Trim(), error.ToString().Trim());
    }

    private string File_(string name, string text)
    {
        var path = Path.Combine(_folder, name);
        File.WriteAllText(path, text);
        return path;
    }

    [Fact]
    public async Task A_valid_node_command_line_is_ok_in_one_line_and_nothing_is_created()
    {
        var dataDir = Path.Combine(_folder, "never");
        var (code, output, error) = await Check("node", "--join", "10.0.0.1:4053", "--host", "10.0.0.2", "--port", "4053",
            "--http-port", "8080", "--data-dir", dataDir, "--store", "Host=db;Username=u;Password=secret;Database=d");
        Assert.Equal(0, code);
        Assert.Equal("", error);
        Assert.Equal($"ok: node joins the cluster at 10.0.0.1:4053; 2 rank(s) on cpu, cluster 10.0.0.2:4053, data plane port any, store PostgreSQL, data directory {dataDir}, http 10.0.0.2:8080", output);
        Assert.DoesNotContain("secret", output);
        Assert.False(Directory.Exists(dataDir));
    }

    [Fact]
    public async Task Train_flags_and_the_config_file_merge_as_train_merges_them()
    {
        var config = File_("job.conf", "elastictrain {\n  job { id = from-file, steps = 7 }\n  ranks = 3\n  http.port = 9090\n}\n");
        var (code, output, _) = await Check("train", "--config", config, "--steps", "9", "--http-host", "0.0.0.0");
        Assert.Equal(0, code);
        Assert.StartsWith("ok: train job from-file (gpt, global batch 16, 9 steps); 3 rank(s) on cpu, cluster 127.0.0.1:any,", output);
        Assert.EndsWith("http 0.0.0.0:9090", output);
    }

    [Fact]
    public async Task By_default_train_serves_its_console_on_any_free_port_and_node_serves_none()
    {
        Assert.EndsWith("http 127.0.0.1:any", (await Check("train")).Output);
        Assert.EndsWith("http off", (await Check("node", "--join", "10.0.0.1:4053")).Output);
        Assert.EndsWith("http off", (await Check("train", "--http-port", "off")).Output);
    }

    [Fact]
    public async Task A_parameter_server_job_says_so_and_an_all_reduce_one_says_nothing_of_its_mode()
    {
        var (code, output, error) = await Check("train", "--mode", "ps", "--consistency", "ssp", "--shards", "4");
        Assert.Equal((0, ""), (code, error));
        Assert.Contains("; 2 rank(s) on cpu, parameter server (ssp(2), 4 shards), cluster ", output);
        Assert.DoesNotContain("parameter server", (await Check("train", "--mode", "allreduce", "--consistency", "ssp")).Output);
    }

    [Fact]
    public async Task Operator_commands_are_checked_with_their_own_flags()
    {
        Assert.Equal((0, "ok: drain node 10.0.0.3:4053 through the cluster at 10.0.0.1:4053", ""),
            await Check("drain", "--join", "10.0.0.1:4053", "--node", "10.0.0.3:4053"));
        Assert.Equal((0, "ok: scale to 4 rank(s) through the cluster at 10.0.0.1:4053", ""), await Check("scale", "--join", "10.0.0.1:4053", "--ranks", "4"));
        Assert.Equal((0, "ok: status through the cluster at 10.0.0.1:4053", ""), await Check("status", "--join", "10.0.0.1:4053"));
    }

    [Theory]
    [InlineData(new[] { "node", "--jion", "a:1" }, "error: Unrecognized command or argument '--jion'.")]
    [InlineData(new[] { "train", "--ranks", "x" }, "error: Cannot parse argument 'x' for option '--ranks' as expected type 'System.Int32'.")]
    [InlineData(new[] { "train", "--ranks", "0" }, "error: elastictrain.ranks must be between 1 and 1024, not 0")]
    [InlineData(new[] { "train", "--config", "/nonexistent.conf" }, "error: config file '/nonexistent.conf' does not exist")]
    [InlineData(new[] { "train", "--store", "Host=db;Bogus=1" }, "error: elastictrain.store is not a valid PostgreSQL connection string: Couldn't set bogus (Parameter 'bogus')")]
    [InlineData(new[] { "node", "--join", "nowhere" }, "error: --join must be HOST:PORT, not 'nowhere'")]
    [InlineData(new[] { "train", "--mode", "sharded" }, "error: --mode must be one of allreduce, ps, not 'sharded'")]
    [InlineData(new[] { "train", "--mode", "ps", "--stages", "2" }, "error: elastictrain.collective = ps needs plain data parallelism: elastictrain.parallel.stages must be 1 or auto, not 2")]
    [InlineData(new[] { "node" }, "error: node needs --join HOST:PORT of a node of the job, or --discovery config|kubernetes")]
    [InlineData(new[] { "drain", "--join", "a:1", "--node", "b" }, "error: --node must be HOST:PORT, not 'b'")]
    [InlineData(new[] { "status" }, "error: Option '--join' is required.")]
    [InlineData(new[] { "plot", "--metrics", "m.jsonl" }, "error: check-config checks train, node, eval, status, drain and scale, not 'plot'")]
    [InlineData(new string[0], "error: Required argument missing for command: 'check-config'.")]
    public async Task Bad_input_is_one_error_line_and_exit_code_2(string[] args, string expected)
    {
        var (code, output, error) = await Check(args);
        Assert.Equal((2, "", expected), (code, output, error));
    }

    [Fact]
    public async Task A_key_the_defaults_do_not_define_is_refused_where_the_command_would_ignore_it()
    {
        var config = File_("typo.conf", "elastictrain {\n  job.globl-batch = 64\n  http.port = 8080\n}\n");
        var (code, _, error) = await Check("node", "--join", "a:1", "--config", config);
        Assert.Equal(2, code);
        Assert.Equal($"error: config file '{config}' sets elastictrain.job.globl-batch, which is not a known key; see hocon/elastictrain.conf", error);
    }

    [Fact]
    public async Task Every_shipped_example_config_is_ok()
    {
        var examples = Directory.GetFiles(Path.Combine(RepositoryRoot.Find(), "hocon"), "*.conf", SearchOption.AllDirectories);
        Assert.NotEmpty(examples);
        foreach (var example in examples)
        {
            var (code, output, error) = await Check("train", "--config", example);
            Assert.True(code == 0, $"{example}: {error}");
            Assert.StartsWith("ok: train job ", output);
        }
    }
}
