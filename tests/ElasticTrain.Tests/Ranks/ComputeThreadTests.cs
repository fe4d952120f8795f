using System.Runtime.InteropServices;
using ElasticTrain.Models;
using ElasticTrain.Ranks;
using ElasticTrain.Tests.Support;

namespace ElasticTrain.Tests.Ranks;

/// <summary>
/// OpenMP keeps its thread count per thread, and libtorch's products use it: a thread of ours that
/// multiplies before ATen has set its count takes OpenMP's default (every core), whatever the
/// process was configured to, and those threads spin between products on cores the ranks need.
/// </summary>
[Collection(nameof(TorchThreadsCollection))]
public sealed class ComputeThreadTests
{
    private delegate int OmpGetMaxThreads();

    /// <summary>The count OpenMP gives a parallel region started on the calling thread, from libtorch's own OpenMP.</summary>
    private static int OpenMpThreads()
    {
        var native = Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native");
        var library = NativeLibrary.Load(Directory.GetFiles(native, "libgomp*.so*").Single());
        return Marshal.GetDelegateForFunctionPointer<OmpGetMaxThreads>(NativeLibrary.GetExport(library, "omp_get_max_threads"))();
    }

    [Fact]
    public async Task A_compute_thread_runs_libtorch_with_the_configured_threads_where_a_plain_thread_gets_OpenMPs_default()
    {
        TorchRuntime.Configure(1, MklKernelChoice.Auto);
        var plain = 0;
        var thread = new Thread(() => plain = OpenMpThreads());
        thread.Start();
        thread.Join();
        Assert.Equal(Environment.ProcessorCount, plain); // the default a thread starts with (one here on a single core)

        using var compute = new ComputeThread("test");
        var seen = new TaskCompletionSource<int>();
        compute.Post(() => seen.SetResult(OpenMpThreads()));
        Assert.Equal(1, await seen.Task);
    }
}
