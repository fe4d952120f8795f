namespace ElasticTrain.Models;

/// <summary>
/// libtorch's settings for the whole process, made before its first tensor operation: which
/// kernels MKL takes (<see cref="MklKernels"/>: fixed at MKL's first call) and the intra-op threads.
/// </summary>
public static class TorchRuntime
{
    private static readonly Lock Gate = new();
    private static string? _kernels;

    /// <summary>Sets the threads (again, if asked again) and, the first time only, the kernels; returns which kernels MKL uses.</summary>
    public static string Configure(int threads, MklKernelChoice kernels)
    {
        lock (Gate)
        {
            _kernels ??= MklKernels.Apply(kernels);
            TorchSharp.torch.set_num_threads(threads);
            return _kernels;
        }
    }
}
