using System.Runtime.Intrinsics.X86;

namespace ElasticTrain.Tests.Processes;

/// <summary>
/// MKL's kernels as <c>elastictrain.mkl-kernels</c> chooses them. The choice is fixed at MKL's first
/// call, once per process, so each choice needs a process of its own: the same 30-step job trained
/// on the generic kernels (what a non-Intel CPU gets from MKL by default) and on the ones chosen by
/// instruction set follows the same curve, and each run's first line names the kernels it used.
/// </summary>
public class KernelChoiceTests
{
    [SkippableFact]
    public async Task The_generic_and_the_instruction_set_kernels_train_the_same_curve()
    {
        Skip.IfNot(X86Base.IsSupported && Avx2.IsSupported, "MKL's kernel paths are chosen on x86-64 CPUs with AVX2");
        var (generic, genericOutput) = await Train("generic");
        var (auto, autoOutput) = await Train("auto");

        Assert.Contains("kernels: MKL generic path", genericOutput);
        Assert.Matches("kernels: MKL (AVX2|AVX-512) path", autoOutput);
        Assert.DoesNotContain("unknown shape", autoOutput);
        Assert.Equal(generic.Keys.Order(), auto.Keys.Order());
        foreach (var (step, loss) in generic)
            Assert.True(Math.Abs(loss - auto[step]) <= 1e-4 * Math.Abs(auto[step]), $"step {step}: generic {loss:R} vs auto {auto[step]:R}");
    }

    private static async Task<(Dictionary<long, double> Losses, string Output)> Train(string kernels)
    {
        using var job = new ClusterJob(steps: 30) { JobId = kernels };
        Directory.CreateDirectory(job.Folder);
        var data = Path.Combine(job.Folder, "corpus.txt");
        var corpus = ElasticTrain.Data.Corpus.Load(null, Path.Combine(Path.GetTempPath(), "elastictrain-tests", "corpus-cache"));
        File.WriteAllBytes(data, corpus.Bytes.AsSpan(0, 40_000).ToArray());
        var config = Path.Combine(job.Folder, "kernels.conf");
        File.WriteAllText(config, $"elastictrain.mkl-kernels = {kernels}\n");
        job.Extra = ["--config", config];
        using var run = job.StartTrain(data, ClusterJob.FreePort(), ranks: 1);
        Assert.True(await run.WaitAsync(TimeSpan.FromMinutes(2)) == 0, run.Output);
        return (job.Records("step").ToDictionary(r => r.GetProperty("step").GetInt64(), r => r.GetProperty("loss").GetDouble()), run.Output);
    }
}
