using System.Runtime.InteropServices;

namespace ElasticTrain.Models;

/// <summary>
/// glibc malloc's settings for a process that allocates and frees the same tensors every step.
/// libtorch's CPU tensors come from malloc, and a rank computes on a thread of its own, so from one
/// of malloc's per-thread arenas, among the other threads' allocations. With glibc's defaults the
/// step's activations were mapped and handed back to the kernel over and over: a 1-rank job of the
/// default GPT page-faulted about 2,250 times per step, every step, and its rank spent about a tenth
/// of its time in the kernel (PyTorch's loop, on the main thread: next to none). Kept, the pages are
/// reused: 6-36 faults per step, the whole process. What it costs: a process keeps the memory its
/// steps freed (the step's own peak, held again by the next step) instead of returning it.
/// </summary>
public static class NativeHeap
{
    // mallopt's parameters (malloc.h).
    private const int TrimThreshold = -1, TopPad = -2, MmapThreshold = -3;

    /// <summary>Blocks below this come from the arenas (glibc's own ceiling for its dynamic threshold).</summary>
    public const int MappedFrom = 32 << 20;

    /// <summary>Free memory an arena keeps at its top before it trims.</summary>
    public const int KeptUpTo = 1 << 30;

    /// <summary>
    /// What an arena asks for beyond each growth; as large as a thread arena's heap, so a heap that
    /// empties stays (glibc deletes an empty heap unless this pad says to keep it).
    /// </summary>
    public const int GrowthPad = 64 << 20;

    /// <summary>
    /// Makes malloc keep freed memory for reuse; false where malloc is not glibc's (then nothing
    /// changes). All three settings go together: setting any one fixes the mmap threshold, whose
    /// default alone (128 KiB) would map every tensor afresh.
    /// </summary>
    public static unsafe bool KeepFreedMemory()
    {
        if (!OperatingSystem.IsLinux() || !NativeLibrary.TryLoad("libc.so.6", out var libc)) return false;
        if (!NativeLibrary.TryGetExport(libc, "mallopt", out var export)) return false;
        var mallopt = (delegate* unmanaged<int, int, int>)export;
        return mallopt(MmapThreshold, MappedFrom) == 1 & mallopt(TrimThreshold, KeptUpTo) == 1 & mallopt(TopPad, GrowthPad) == 1;
    }
}
