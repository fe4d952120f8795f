using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;
using ElasticTrain.Configuration;
using ElasticTrain.Models;

namespace ElasticTrain.Tests.Models;

/// <summary>
/// The reading of MKL's vendor check. Steering it changes MKL's kernels only before MKL's first
/// call, once per process: the kernels themselves are compared in a process test (KernelChoiceTests).
/// </summary>
public class MklKernelsTests
{
    // mkl_serv_intel_cpu_true in libtorch 2.10's oneMKL: mov eax, [rip+0x0998671a]; test eax, eax; js +1; ret.
    private static readonly byte[] Shipped = [0x8B, 0x05, 0x1A, 0x67, 0x98, 0x09, 0x85, 0xC0, 0x78, 0x01, 0xC3, 0x53];

    [Fact]
    public void The_kept_answer_is_found_from_the_first_instruction()
    {
        Assert.Equal(6L + 0x0998671A, MklKernels.AnswerOffset(Shipped));
        byte[] backwards = [0x8B, 0x05, 0xF0, 0xFF, 0xFF, 0xFF, 0x85, 0xC0, 0x78, 0x01, 0xC3];
        Assert.Equal(6L - 16, MklKernels.AnswerOffset(backwards));
    }

    [Theory]
    [InlineData(0, 0x8B)]   // not a load into eax
    [InlineData(1, 0x0D)]   // a load into ecx
    [InlineData(7, 0xC9)]   // tests another register
    [InlineData(9, 0x05)]   // skips more than the ret
    [InlineData(10, 0x90)]  // no ret after the test
    public void Any_other_code_is_left_alone(int at, byte instead)
    {
        var code = (byte[])Shipped.Clone();
        code[at] = at == 0 ? (byte)0x8D : instead;
        Assert.Null(MklKernels.AnswerOffset(code));
        Assert.Null(MklKernels.AnswerOffset(Shipped.AsSpan(0, 10)));
    }

    [SkippableFact]
    public void The_libtorch_we_ship_has_the_vendor_check_we_can_read()
    {
        Skip.IfNot(X86Base.IsSupported && OperatingSystem.IsLinux(), "the x86-64 Linux build of libtorch carries MKL");
        _ = TorchSharp.torch.get_num_threads(); // libtorch loaded, as every run has it
        var library = NativeLibrary.Load(Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native", "libtorch_cpu.so"));
        var check = NativeLibrary.GetExport(library, "mkl_serv_intel_cpu_true");
        var code = new byte[11];
        Marshal.Copy(check, code, 0, code.Length);
        Assert.NotNull(MklKernels.AnswerOffset(code));
    }

    [Fact]
    public void The_setting_is_auto_vendor_or_generic()
    {
        Assert.Equal(MklKernelChoice.Auto, MklKernels.Parse("auto"));
        Assert.Equal(MklKernelChoice.Vendor, MklKernels.Parse(" Vendor"));
        Assert.Equal(MklKernelChoice.Generic, MklKernels.Parse("generic"));
        var refused = Assert.Throws<SettingsException>(() => MklKernels.Parse("fast"));
        Assert.Equal("elastictrain.mkl-kernels must be auto, vendor or generic, not 'fast'", refused.Message);
    }

    [SkippableFact]
    public void The_vendor_is_read_from_cpuid()
    {
        Skip.IfNot(X86Base.IsSupported, "CPUID is x86");
        var vendor = MklKernels.CpuVendor()!;
        Assert.Equal(12, vendor.Length);
        Assert.Contains(vendor, File.ReadAllText("/proc/cpuinfo"));
    }
}
