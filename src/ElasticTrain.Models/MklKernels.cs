using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;
using ElasticTrain.Configuration;

namespace ElasticTrain.Models;

/// <summary>How MKL, inside libtorch's CPU build, chooses its matrix-multiply kernels (<c>elastictrain.mkl-kernels</c>).</summary>
public enum MklKernelChoice
{
    /// <summary>By instruction set on every x86-64 CPU: on a non-Intel one with AVX2, MKL's vendor check answers "Intel".</summary>
    Auto,

    /// <summary>MKL's own choice, which gives every non-Intel CPU its generic kernels.</summary>
    Vendor,

    /// <summary>The generic kernels on any CPU, as a non-Intel CPU gets them by default: to compare kernels.</summary>
    Generic,
}

/// <summary>
/// Steers MKL's kernel choice in the libtorch this process has loaded. MKL chooses by vendor as well
/// as by instruction set: <c>mkl_serv_intel_cpu_true</c> compares the CPUID vendor with
/// "GenuineIntel", and on any other CPU MKL takes its generic path (on a 2-core AMD EPYC, one
/// thread: SGEMM at about 55 GFLOP/s against about 70 with AVX2 kernels; on an Intel Xeon the same
/// SGEMM runs 5x slower on the generic path than on AVX-512). The function keeps its answer in a
/// variable that it reads first (<c>mov eax, [rip+d]; test eax, eax; js compute; ret</c>); writing
/// that variable before MKL's first call decides the answer. MKL then detects the instruction set
/// once and keeps it, so this must run before the process's first matrix multiply.
/// </summary>
public static class MklKernels
{
    private const string VendorCheck = "mkl_serv_intel_cpu_true";
    private const string Detect = "mkl_serv_cpu_detect";

    public static MklKernelChoice Parse(string text) => text.Trim().ToLowerInvariant() switch
    {
        "auto" => MklKernelChoice.Auto,
        "vendor" => MklKernelChoice.Vendor,
        "generic" => MklKernelChoice.Generic,
        _ => throw new SettingsException($"elastictrain.mkl-kernels must be auto, vendor or generic, not '{text}'"),
    };

    /// <summary>
    /// Where the vendor check keeps its answer, as an offset from the function's first byte, read from
    /// its code; null when the code is not that shape (another MKL build), and then it is left alone.
    /// </summary>
    public static long? AnswerOffset(ReadOnlySpan<byte> code)
    {
        // 8B 05 d32     mov eax, [rip + d32]   (rip: the next instruction, 6 bytes on)
        // 85 C0         test eax, eax
        // 78 01         js +1                  (negative: not yet computed)
        // C3            ret
        if (code.Length < 11 || code[0] != 0x8B || code[1] != 0x05) return null;
        if (code[6] != 0x85 || code[7] != 0xC0 || code[8] != 0x78 || code[9] != 0x01 || code[10] != 0xC3) return null;
        return 6L + BitConverter.ToInt32(code[2..6]);
    }

    /// <summary>The CPU's vendor string from CPUID leaf 0 ("GenuineIntel", "AuthenticAMD"), or null off x86.</summary>
    public static string? CpuVendor()
    {
        if (!X86Base.IsSupported) return null;
        var (_, ebx, ecx, edx) = X86Base.CpuId(0, 0);
        Span<int> words = [ebx, edx, ecx];
        return System.Text.Encoding.ASCII.GetString(MemoryMarshal.AsBytes(words));
    }

    /// <summary>
    /// Applies the choice to the loaded libtorch (the caller has loaded it, e.g. by setting its thread
    /// count) and says which kernels MKL will use, for the process's start line.
    /// </summary>
    public static string Apply(MklKernelChoice choice)
    {
        var vendor = CpuVendor();
        if (vendor is null || !Environment.Is64BitProcess) return "kernels: libtorch CPU (not x86-64: no MKL)";
        if (Library() is not { } library || !NativeLibrary.TryGetExport(library, VendorCheck, out var check))
            return "kernels: libtorch CPU (no MKL found in it)";

        var answer = choice switch
        {
            MklKernelChoice.Generic => 0,
            MklKernelChoice.Auto when vendor != "GenuineIntel" && Avx2.IsSupported => 1,
            _ => (int?)null,
        };
        var steered = answer is { } value && SetAnswer(check, value);
        var path = KernelPath(library);
        var why = (choice, steered) switch
        {
            (MklKernelChoice.Generic, true) => "; generic by elastictrain.mkl-kernels = generic",
            (MklKernelChoice.Auto, true) => $"; by instruction set on this {vendor} CPU (elastictrain.mkl-kernels = vendor to leave MKL's choice)",
            (_, false) when answer is not null => "; this MKL's vendor check has an unknown shape: left as is",
            _ => "",
        };
        return $"kernels: MKL {path}{why}";
    }

    /// <summary>Writes the vendor check's kept answer; false when its code is not the known shape.</summary>
    private static unsafe bool SetAnswer(IntPtr check, int answer)
    {
        var code = new ReadOnlySpan<byte>((void*)check, 11);
        if (AnswerOffset(code) is not { } offset) return false;
        *(int*)(check + (nint)offset) = answer;
        return true;
    }

    /// <summary>What MKL detected and keeps: its code 7 is AVX-512, 5 AVX2, 3 SSE4.2 and 0 the generic path.</summary>
    private static unsafe string KernelPath(IntPtr library)
    {
        if (!NativeLibrary.TryGetExport(library, Detect, out var detect)) return "(path unknown)";
        var code = ((delegate* unmanaged<int>)detect)();
        return code switch
        {
            0 => "generic path",
            3 => "SSE4.2 path",
            5 => "AVX2 path",
            7 => "AVX-512 path",
            _ => $"path {code}",
        };
    }

    /// <summary>libtorch's CPU library as TorchSharp loaded it: next to the app, or in its runtimes folder.</summary>
    private static IntPtr? Library()
    {
        string[] places =
        [
            Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native", "libtorch_cpu.so"),
            Path.Combine(AppContext.BaseDirectory, "libtorch_cpu.so"),
            "libtorch_cpu.so",
        ];
        foreach (var place in places)
            if ((!Path.IsPathRooted(place) || File.Exists(place)) && NativeLibrary.TryLoad(place, out var handle)) return handle;
        return null;
    }
}
