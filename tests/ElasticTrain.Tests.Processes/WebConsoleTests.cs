using System.Text.RegularExpressions;
using Xunit.Abstractions;

namespace ElasticTrain.Tests.Processes;

/// <summary>
/// The web console in a real browser, on a real two-node job: the curve grows live, both members
/// are listed, the joined node's console shows the same job, and scaling from the page changes the
/// world at the next step with the operator token and is refused without it.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed partial class WebConsoleTests(ReferenceRun reference, ITestOutputHelper output)
{
    /// <summary>Where the screenshot is kept: beside the test binaries, and named in the test's output.</summary>
    public static string Screenshot => Path.Combine(AppContext.BaseDirectory, "artifacts", "console.png");

    [SkippableFact]
    public async Task The_console_shows_the_job_live_and_scales_it_only_with_the_operator_token()
    {
        var program = HeadlessBrowser.Find();
        Skip.If(program is null && Environment.GetEnvironmentVariable("ELASTICTRAIN_REQUIRE_BROWSER") != "1", "no chromium here (.ci/run installs it)");
        Assert.True(program is not null, "ELASTICTRAIN_REQUIRE_BROWSER=1 but no chromium is installed");

        using var job = new ClusterJob(steps: 3000); // the test stops it once it has seen enough
        var port = ClusterJob.FreePort();
        var (trainHttp, nodeHttp) = (ClusterJob.FreePort(), ClusterJob.FreePort());
        job.TrainExtra = ["--http-port", trainHttp.ToString()];
        using var train = job.StartTrain(reference.Data, port, ranks: 1);
        await job.WaitFor(j => j.LastStep() >= 5, "5 steps on one rank", train);
        using var node = job.StartNode(port, ranks: 1, "worker", own: ["--http-port", nodeHttp.ToString()]);
        await job.WaitFor(j => j.Records("step").Any(r => r.GetProperty("world").GetInt32() == 2), "the worker's rank", train, node);
        var token = TokenLine().Match(train.Output) is { Success: true } m ? m.Groups[1].Value : throw new Xunit.Sdk.XunitException($"no token printed:\n{train.Output}");
        string Outputs() => train.Output + "\n---\n" + node.Output + job.LogTails();

        await using var browser = await HeadlessBrowser.StartAsync(program!, 1280, 1200);
        await browser.NavigateAsync($"http://127.0.0.1:{trainHttp}/");
        await browser.WaitForAsync("document.querySelectorAll('#members tbody tr').length === 2 && +document.getElementById('loss-chart').dataset.points > 0",
            "both members and a curve", TimeSpan.FromSeconds(30), Outputs);
        var points = (int)(await browser.EvaluateAsync("+document.getElementById('loss-chart').dataset.points"))!;
        await browser.WaitForAsync($"+document.getElementById('loss-chart').dataset.points > {points + 5}", "the curve growing", TimeSpan.FromSeconds(30), Outputs);

        // Scaling without the token, or with a wrong one, is refused, and says why.
        await browser.EvaluateAsync("document.getElementById('token').value = ''; document.getElementById('ranks').value = '1'; document.getElementById('scale').click(); true");
        await browser.WaitForAsync("document.getElementById('reply').textContent.includes('read-only')", "the refusal", TimeSpan.FromSeconds(10), Outputs);
        await browser.EvaluateAsync("document.getElementById('reply').textContent = ''; document.getElementById('token').value = 'not-the-token'; document.getElementById('scale').click(); true");
        await browser.WaitForAsync("document.getElementById('reply').textContent.includes('not the job')", "the refusal of a wrong token", TimeSpan.FromSeconds(10), Outputs);
        Assert.Equal(0, (int)(await browser.EvaluateAsync("fetch('api/snapshot').then(r => r.json()).then(s => s.status.targetRanks)"))!);

        // With the token printed at the start, the world shrinks at the next step boundary.
        var before = job.LastStep();
        await browser.EvaluateAsync($"document.getElementById('token').value = '{token}'; document.getElementById('scale').click(); true");
        await browser.WaitForAsync("document.getElementById('reply').textContent.startsWith('using 1 of 2')", "the scale accepted", TimeSpan.FromSeconds(10), Outputs);
        await browser.WaitForAsync("document.getElementById('world').textContent === '1' && document.querySelectorAll('#members tbody tr').length === 1",
            "a world of 1", TimeSpan.FromSeconds(30), Outputs);
        await job.WaitFor(j => j.Records("step").Any(r => r.GetProperty("step").GetInt64() > before && r.GetProperty("world").GetInt32() == 1), "a step with world 1", train, node);
        await browser.WaitForAsync("document.getElementById('loss-chart').dataset.marks >= 3", "the join and the scale marked on the curve", TimeSpan.FromSeconds(10), Outputs);
        var changes = (string)(await browser.EvaluateAsync("document.getElementById('generations').textContent"))!;
        Assert.Contains("(1 rank) idle (scaled down)", changes);

        Directory.CreateDirectory(Path.GetDirectoryName(Screenshot)!);
        var png = await browser.ScreenshotAsync();
        await File.WriteAllBytesAsync(Screenshot, png);
        output.WriteLine($"screenshot: {Screenshot} ({png.Length} bytes)");
        Assert.True(png.Length > 10_000, $"a {png.Length}-byte screenshot is blank");

        // The joined node serves the same job: the curve relayed from the coordinator's node, with its own join marked.
        await browser.NavigateAsync($"http://127.0.0.1:{nodeHttp}/");
        await browser.WaitForAsync("+document.getElementById('loss-chart').dataset.points > 20 && document.getElementById('generations').textContent.includes('+ 127.0.0.1:')",
            "the job on the joined node's console", TimeSpan.FromSeconds(30), Outputs);
    }

    [GeneratedRegex("operator token ([0-9a-f]+)")]
    private static partial Regex TokenLine();
}
