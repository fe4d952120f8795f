using System.Runtime.InteropServices;
using ElasticTrain.Models;
using ElasticTrain.Ranks;
using ElasticTrain.Tests.Support;

namespace ElasticTrain.Tests.Ranks;

/// <summary>
/// OpenMP keeps its thread count per thread, and libtorch's products use it: a thread of ours that
/// multiplies before ATen has set its count takes OpenMP's default (every core), and those threads
/// spin between products on cores the ranks need. The count also orders libtorch's sums, so it is
/// the rank's: given to its threads, not read from whichever job set it last.
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
    public async Task A_compute_thread_runs_libtorch_with_its_own_threads_where_a_plain_thread_gets_OpenMPs_default()
    {
        TorchRuntime.Configure(MklKernelChoice.Auto);
        var plain = 0;
        var thread = new Thread(() => plain = OpenMpThreads());
        thread.Start();
        thread.Join();
        Assert.Equal(Environment.ProcessorCount, plain); // the default a thread starts with (one here on a single core)

        // Two jobs in one process (as the tests run them): each rank's threads keep the count its job
        // gave them, whichever job started last.
        using var one = new ComputeThread("one", 1);
        using var three = new ComputeThread("three", 3);
        Assert.Equal((1, 3), (await ThreadsOf(one), await ThreadsOf(three)));
    }

    [Fact]
    public async Task Work_that_disposes_its_own_thread_ends_it_after_that_work()
    {
        var compute = new ComputeThread("self", 1);
        var disposed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        compute.Post(() =>
        {
            compute.Dispose();
            disposed.SetResult();
        });
        await disposed.Task;
        // The loop takes its next item once that work returns: from a disposed queue, it threw on the
        // compute thread and took the test host down with it.
        await Task.Delay(200);
        Assert.ThrowsAny<InvalidOperationException>(() => compute.Post(() => { }));
    }

    private static Task<int> ThreadsOf(ComputeThread compute)
    {
        // Continuations elsewhere: the test disposes the threads when it ends, and must not be on one.
        var seen = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        compute.Post(() => seen.SetResult(OpenMpThreads()));
        return seen.Task;
    }
}
