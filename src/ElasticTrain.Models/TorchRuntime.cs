namespace ElasticTrain.Models;

/// <summary>
/// libtorch's settings: for the whole process, made before its first tensor operation, which
/// kernels MKL takes (<see cref="MklKernels"/>: fixed at MKL's first call) and malloc's keeping of
/// freed tensors (<see cref="NativeHeap"/>); per thread, the intra-op threads.
/// </summary>
public static class TorchRuntime
{
    private static readonly Lock Gate = new();
    private static string? _kernels;

    /// <summary>Makes the process's settings the first time (later calls change nothing); returns which kernels MKL uses.</summary>
    public static string Configure(MklKernelChoice kernels)
    {
        lock (Gate)
        {
            if (_kernels is null)
            {
                NativeHeap.KeepFreedMemory();
                _kernels = MklKernels.Apply(kernels);
            }
            return _kernels;
        }
    }

    /// <summary>
    /// Gives the calling thread <paramref name="threads"/> intra-op threads. OpenMP and MKL keep the
    /// count per thread: a thread of ours that multiplies before ATen has run a parallel loop on it
    /// uses OpenMP's default, every core, and those threads then spin between products (PowerSGD's
    /// products on the exchange thread did so: on 3 processes of one 2-core machine, 570 ms exposed
    /// per step against 25 ms). The count also decides how reductions split, so the same step gives
    /// other float32 sums under another count: it belongs to the job's ranks, not to whichever job
    /// set it last in a process that runs several (as the tests do).
    /// </summary>
    public static void UseThreads(int threads) => TorchSharp.torch.set_num_threads(threads);
}
