using System.Diagnostics;
using ElasticTrain.Cli.Benchmarks;

namespace ElasticTrain.Tests.Processes;

/// <summary>
/// A ring member's process killed with SIGKILL in the middle of all-reducing: the survivor's
/// exchange must fail on its own, long before the exchange timeout (60 s in the workers), with one
/// error line, so that a coordinator can replay the step instead of waiting.
/// </summary>
public class DataPlaneKillTests
{
    [Fact]
    public async Task Killing_a_peer_mid_exchange_fails_the_survivor_within_seconds()
    {
        string[] Args(int index) => ["bench", "allreduce-worker", "--index", $"{index}", "--nodes", "2",
            "--size-mb", "32", "--iters", "100000", "--warmup", "0"];
        using var survivor = CliProcess.Start(Args(0), redirectInput: true);
        using var victim = CliProcess.Start(Args(1), redirectInput: true);
        var addresses = new[] { await survivor.Output.ReadLineAsync(), await victim.Output.ReadLineAsync() }
            .Select(line => line!.Split(' ')[1]).ToArray();
        foreach (var worker in new[] { survivor, victim })
        {
            await worker.Input.WriteLineAsync(string.Join(',', addresses));
            await worker.Input.FlushAsync();
        }
        await Task.Delay(TimeSpan.FromSeconds(2)); // well into the stream of all-reduces

        if (survivor.HasExited) Assert.Fail($"the survivor ended before the kill: {await survivor.Error.ReadToEndAsync()}");
        var clock = Stopwatch.StartNew();
        victim.Dispose(); // SIGKILL
        var code = await survivor.WaitAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(1, code);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"the survivor took {clock.Elapsed.TotalSeconds:0.0} s to notice");
        var error = (await survivor.Error.ReadToEndAsync()).Trim();
        Assert.StartsWith("error: worker 0: ", Assert.Single(error.Split('\n')));
    }
}
