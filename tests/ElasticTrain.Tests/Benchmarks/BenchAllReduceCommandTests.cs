using ElasticTrain.Cli;
using ElasticTrain.Cli.Benchmarks;

namespace ElasticTrain.Tests.Benchmarks;

public class BenchAllReduceCommandTests
{
    [Theory]
    [InlineData(new[] { "--nodes", "0" }, "error: --nodes must be between 1 and 64, not 0")]
    [InlineData(new[] { "--size-mb", "0" }, "error: --size-mb must be above 0 and at most 1024, not 0")]
    [InlineData(new[] { "--iters", "0" }, "error: --iters must be at least 1, not 0")]
    [InlineData(new[] { "--warmup", "-2" }, "error: --warmup must be at least 0, not -2")]
    public async Task Bad_input_is_one_error_line_and_exit_code_2(string[] args, string expected)
    {
        var error = new StringWriter();
        Assert.Equal(2, await CliApp.RunAsync(["bench", "allreduce", .. args], error));
        Assert.Equal(expected, error.ToString().Trim());
    }

    [Fact]
    public void Bus_bandwidth_follows_the_nccl_tests_convention()
    {
        // 64 MiB in 50 ms: algbw 1342 MB/s; busbw = algbw * 2(n-1)/n.
        int values = AllReduceBenchmark.Values(64);
        Assert.Equal(16 * 1024 * 1024, values);
        Assert.Equal(1342.18, AllReduceBenchmark.BusBandwidth(values, 2, 50), 2);
        Assert.Equal(1342.18 * 4 / 3, AllReduceBenchmark.BusBandwidth(values, 3, 50), 2);
    }

    [Fact]
    public async Task Two_worker_processes_report_a_result_line()
    {
        var result = await AllReduceBenchmark.RunAsync(new AllReduceBenchmark.Options(2, 0.25, 3, 1), TextWriter.Null, CancellationToken.None)
            .WaitAsync(TimeSpan.FromMinutes(2));
        Assert.Matches(@"^allreduce nodes=2 size_mb=0\.25 ms=[0-9.]+ busbw_mbps=[0-9]+ raw_tcp_mbps=[0-9]+$", result.ToString());
    }
}
