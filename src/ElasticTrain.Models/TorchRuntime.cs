namespace ElasticTrain.Models;

/// <summary>
/// libtorch's settings for the whole process, made before its first tensor operation: which
/// kernels MKL takes (<see cref="MklKernels"/>: fixed at MKL's first call), the intra-op threads,
/// and malloc's keeping of freed tensors (<see cref="NativeHeap"/>).
/// </summary>
public static class TorchRuntime
{
    private static readonly Lock Gate = new();
    private static string? _kernels;
    private static int _threads; // 0 until configured

    /// <summary>Sets the threads (again, if asked again) and, the first time only, the kernels; returns which kernels MKL uses.</summary>
    public static string Configure(int threads, MklKernelChoice kernels)
    {
        lock (Gate)
        {
            if (_kernels is null)
            {
                NativeHeap.KeepFreedMemory();
                _kernels = MklKernels.Apply(kernels);
            }
            TorchSharp.torch.set_num_threads(threads);
            _threads = threads;
            return _kernels;
        }
    }

    /// <summary>
    /// Gives the calling thread the configured intra-op threads. OpenMP keeps the count per
    /// thread: one of ours that multiplies before ATen has run a parallel loop on it (which sets
    /// its count) uses OpenMP's default, every core, and those threads then spin between products.
    /// PowerSGD's products on the exchange thread did so: on 3 processes of one 2-core machine,
    /// 570 ms exposed per step against 25 ms. Nothing until <see cref="Configure"/> has run.
    /// </summary>
    public static void AdoptThreads()
    {
        int threads;
        lock (Gate) threads = _threads;
        if (threads > 0) TorchSharp.torch.set_num_threads(threads);
    }
}
