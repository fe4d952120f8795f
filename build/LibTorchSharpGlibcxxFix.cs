// MSBuild task (compiled by RoslynCodeTaskFactory against netstandard, see Directory.Build.targets).
//
// Why: TorchSharp 0.107's libLibTorchSharp.so asks for GLIBCXX_3.4.32 for one symbol,
// _ZSt21ios_base_library_initv, that it never calls. Debian 12's libstdc++ stops at 3.4.30, so
// the dynamic loader refuses the library. Where (and only where) the system libstdc++ lacks that
// version, this task edits the copies in the build output: the version requirement becomes weak
// (vna_flags |= VER_FLG_WEAK) and the symbol loses its version (versym = VER_NDX_GLOBAL). The
// NuGet cache is never touched. The edit is idempotent: a patched file is left as it is.
using System;
using System.IO;
using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

public class LibTorchSharpGlibcxxFix : Task
{
    const string MissingVersion = "GLIBCXX_3.4.32";
    const string UnusedSymbol = "_ZSt21ios_base_library_initv";
    const uint ShtDynsym = 11, ShtGnuVerneed = 0x6ffffffe, ShtGnuVersym = 0x6fffffff;
    const ushort VerFlgWeak = 0x2, VerNdxGlobal = 1;

    [Required] public ITaskItem[] Libraries { get; set; } = Array.Empty<ITaskItem>();

    /// <summary>
    /// The libstdc++ the output will run against, where that is not this machine's: a container
    /// image built in one stage and run on another's libraries (deploy/Dockerfile). Empty: the system's.
    /// </summary>
    public string Libstdcxx { get; set; } = "";

    public override bool Execute()
    {
        if (Libstdcxx.Length > 0 && !File.Exists(Libstdcxx))
        {
            Log.LogError($"TargetLibstdcxx '{Libstdcxx}' does not exist");
            return false;
        }
        if (Libraries.Length == 0 || !SystemLibstdcxxLacksVersion())
            return true;
        foreach (var item in Libraries)
        {
            var path = item.ItemSpec;
            try
            {
                var bytes = File.ReadAllBytes(path);
                if (Patch(bytes))
                {
                    File.WriteAllBytes(path, bytes);
                    Log.LogMessage(MessageImportance.High, $"libstdc++ lacks {MissingVersion}: patched {path}");
                }
            }
            catch (Exception e) when (e is IOException || e is InvalidDataException || e is UnauthorizedAccessException)
            {
                Log.LogError($"cannot patch {path}: {e.Message}");
            }
        }
        return !Log.HasLoggedErrors;
    }

    bool SystemLibstdcxxLacksVersion()
    {
        if (Libstdcxx.Length == 0 && !RuntimeInformation.IsOSPlatform(OSPlatform.Linux)) return false;
        string[] candidates = Libstdcxx.Length > 0 ? new[] { Libstdcxx } : new[]
        {
            "/usr/lib/x86_64-linux-gnu/libstdc++.so.6", "/lib/x86_64-linux-gnu/libstdc++.so.6",
            "/usr/lib64/libstdc++.so.6", "/usr/lib/libstdc++.so.6",
        };
        foreach (var candidate in candidates)
        {
            if (!File.Exists(candidate)) continue;
            var text = Encoding.ASCII.GetString(File.ReadAllBytes(candidate));
            return text.IndexOf(MissingVersion + "\0", StringComparison.Ordinal) < 0;
        }
        return false; // no libstdc++ where we know to look: leave the library as shipped
    }

    /// <summary>Edits an ELF64 little-endian image in place; returns whether anything changed.</summary>
    static bool Patch(byte[] elf)
    {
        if (elf.Length < 64 || elf[0] != 0x7f || elf[1] != (byte)'E' || elf[4] != 2 || elf[5] != 1)
            throw new InvalidDataException("not a 64-bit little-endian ELF file");
        long shoff = (long)U64(elf, 0x28);
        int shentsize = U16(elf, 0x3A), shnum = U16(elf, 0x3C);

        long Section(int i, int field) => shoff + (long)i * shentsize + field;
        uint Type(int i) => U32(elf, Section(i, 4));
        long Offset(int i) => (long)U64(elf, Section(i, 0x18));
        long Size(int i) => (long)U64(elf, Section(i, 0x20));
        int Link(int i) => (int)U32(elf, Section(i, 0x28));
        uint Info(int i) => U32(elf, Section(i, 0x2C));

        bool changed = false;
        for (int s = 0; s < shnum; s++)
        {
            if (Type(s) != ShtGnuVerneed) continue;
            long strtab = Offset(Link(s)), entry = Offset(s);
            for (uint n = 0; n < Info(s); n++)
            {
                long aux = entry + U32(elf, entry + 8);
                for (int a = 0; a < U16(elf, entry + 2); a++)
                {
                    if (CString(elf, strtab + U32(elf, aux + 8)) == MissingVersion)
                    {
                        ushort flags = U16(elf, aux + 4);
                        if ((flags & VerFlgWeak) == 0) { W16(elf, aux + 4, (ushort)(flags | VerFlgWeak)); changed = true; }
                    }
                    aux += U32(elf, aux + 12);
                }
                entry += U32(elf, entry + 12);
            }
        }

        int dynsym = -1, versym = -1;
        for (int s = 0; s < shnum; s++)
        {
            if (Type(s) == ShtDynsym) dynsym = s;
            if (Type(s) == ShtGnuVersym) versym = s;
        }
        if (dynsym < 0 || versym < 0) return changed;
        long symtab = Offset(dynsym), symstr = Offset(Link(dynsym));
        long count = Size(dynsym) / 24;
        for (long i = 0; i < count; i++)
        {
            if (CString(elf, symstr + U32(elf, symtab + i * 24)) != UnusedSymbol) continue;
            long slot = Offset(versym) + i * 2;
            if (U16(elf, slot) != VerNdxGlobal) { W16(elf, slot, VerNdxGlobal); changed = true; }
        }
        return changed;
    }

    static ushort U16(byte[] b, long o) => BitConverter.ToUInt16(b, (int)o);
    static uint U32(byte[] b, long o) => BitConverter.ToUInt32(b, (int)o);
    static ulong U64(byte[] b, long o) => BitConverter.ToUInt64(b, (int)o);
    static void W16(byte[] b, long o, ushort v) { b[o] = (byte)v; b[o + 1] = (byte)(v >> 8); }

    static string CString(byte[] b, long o)
    {
        long end = o;
        while (end < b.Length && b[end] != 0) end++;
        return Encoding.ASCII.GetString(b, (int)o, (int)(end - o));
    }
}
