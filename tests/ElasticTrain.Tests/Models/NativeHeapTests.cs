using System.Runtime.InteropServices;
using ElasticTrain.Models;

namespace ElasticTrain.Tests.Models;

public sealed class NativeHeapTests
{
    /// <summary>glibc's struct mallinfo2, summed over every arena.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private readonly struct MallInfo
    {
        public readonly nuint Arena, OrdBlks, SmBlks, HBlks, HBlkHd, UsmBlks, FsmBlks, UordBlks, FordBlks, KeepCost;
    }

    [DllImport("libc.so.6", EntryPoint = "mallinfo2")]
    private static extern MallInfo MallInfo2();

    [Fact]
    public void A_tensor_sized_block_comes_from_the_arena_and_stays_there_once_freed_instead_of_being_mapped_and_unmapped()
    {
        Assert.True(NativeHeap.KeepFreedMemory()); // as TorchRuntime.Configure does once in every process that computes
        const long Size = 30L << 20; // below the 32 MiB threshold; glibc's default maps anything above 128 KiB until a larger block is freed
        long mappedGrowth = -1, keptFree = -1;

        // A thread of its own, as a rank computes: malloc serves it from an arena of its own.
        var thread = new Thread(() =>
        {
            var before = MallInfo2();
            var block = Marshal.AllocHGlobal((nint)Size); // malloc
            Marshal.Copy(new byte[Size], 0, block, (int)Size); // touched, as a tensor's values are
            var held = MallInfo2();
            Marshal.FreeHGlobal(block);
            var after = MallInfo2();
            mappedGrowth = (long)held.HBlkHd - (long)before.HBlkHd;
            keptFree = (long)after.FordBlks - (long)held.FordBlks;
        });
        thread.Start();
        thread.Join();

        Assert.True(mappedGrowth < Size, $"the block was mapped on its own ({mappedGrowth} bytes more in mapped blocks)");
        // Freeing the block adds it to the arena's free bytes, unless the arena trims it back to the kernel.
        Assert.True(keptFree >= Size * 9 / 10, $"the freed block went back to the kernel (the arenas' free bytes grew by {keptFree} when it was freed, not about {Size})");
    }
}
