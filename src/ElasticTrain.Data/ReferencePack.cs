using System.Runtime.InteropServices;

namespace ElasticTrain.Data;

/// <summary>
/// The .NET SDK's reference pack (packs/Microsoft.NETCore.App.Ref/VERSION/ref/TFM/), whose
/// XML documentation files are the default corpus: tens of megabytes of English prose that
/// every machine with the SDK already has, so a training run needs no download.
/// </summary>
internal sealed record ReferencePack(string Version, string Tfm, string Directory, IReadOnlyList<string> XmlFiles)
{
    private const string PackName = "Microsoft.NETCore.App.Ref";

    /// <summary>
    /// Finds the highest pack version under DOTNET_ROOT (when it is set and has packs) or else
    /// under the root of the running runtime; null when neither has one (a runtime-only install).
    /// </summary>
    public static ReferencePack? Find()
    {
        foreach (string root in CandidateRoots())
        {
            ReferencePack? pack = FindUnder(root);
            if (pack is not null)
            {
                return pack;
            }
        }

        return null;
    }

    private static IEnumerable<string> CandidateRoots()
    {
        string? fromEnvironment = Environment.GetEnvironmentVariable("DOTNET_ROOT");
        if (!string.IsNullOrWhiteSpace(fromEnvironment))
        {
            yield return fromEnvironment;
        }

        // RuntimeEnvironment.GetRuntimeDirectory() is ROOT/shared/Microsoft.NETCore.App/VERSION/.
        string runtimeDirectory = RuntimeEnvironment.GetRuntimeDirectory();
        DirectoryInfo? root = new DirectoryInfo(Path.TrimEndingDirectorySeparator(runtimeDirectory)).Parent?.Parent?.Parent;
        if (root is not null)
        {
            yield return root.FullName;
        }
    }

    internal static ReferencePack? FindUnder(string dotnetRoot)
    {
        string packRoot = Path.Combine(dotnetRoot, "packs", PackName);
        if (!System.IO.Directory.Exists(packRoot))
        {
            return null;
        }

        // Highest version first; a version without usable docs falls through to the next.
        var versions = new DirectoryInfo(packRoot).EnumerateDirectories()
            .Select(d => (Directory: d, Key: VersionKey.Parse(d.Name)))
            .Where(v => v.Key is not null)
            .OrderByDescending(v => v.Key)
            .ToList();
        foreach (var (versionDirectory, _) in versions)
        {
            string refRoot = Path.Combine(versionDirectory.FullName, "ref");
            if (!System.IO.Directory.Exists(refRoot))
            {
                continue;
            }

            var tfms = new DirectoryInfo(refRoot).EnumerateDirectories()
                .Select(d => (Directory: d, Key: TfmKey(d.Name)))
                .Where(t => t.Key is not null)
                .OrderByDescending(t => t.Key)
                .ToList();
            foreach (var (tfmDirectory, _) in tfms)
            {
                var xml = tfmDirectory.EnumerateFiles("*.xml")
                    .Select(f => f.FullName)
                    .Order(StringComparer.Ordinal)
                    .ToList();
                if (xml.Count > 0)
                {
                    return new ReferencePack(versionDirectory.Name, tfmDirectory.Name, tfmDirectory.FullName, xml);
                }
            }
        }

        return null;
    }

    /// <summary>"net10.0" -> 10.0; anything else (netstandard2.1, a stray folder) -> null.</summary>
    private static Version? TfmKey(string name) =>
        name.StartsWith("net", StringComparison.Ordinal) && System.Version.TryParse(name.AsSpan(3), out Version? v) ? v : null;

    /// <summary>
    /// Orders pack versions as SemVer does for what SDKs ship: by the numeric part, and a
    /// release ("10.0.12") above its previews ("10.0.12-rc.1.25451.107"), previews ordinally.
    /// </summary>
    private sealed record VersionKey(Version Number, string? Prerelease) : IComparable<VersionKey>
    {
        public static VersionKey? Parse(string name)
        {
            int dash = name.IndexOf('-', StringComparison.Ordinal);
            string number = dash < 0 ? name : name[..dash];
            return System.Version.TryParse(number, out Version? v) ? new VersionKey(v, dash < 0 ? null : name[(dash + 1)..]) : null;
        }

        public int CompareTo(VersionKey? other)
        {
            if (other is null)
            {
                return 1;
            }

            int byNumber = Number.CompareTo(other.Number);
            if (byNumber != 0)
            {
                return byNumber;
            }

            return (Prerelease, other.Prerelease) switch
            {
                (null, null) => 0,
                (null, _) => 1,
                (_, null) => -1,
                _ => string.CompareOrdinal(Prerelease, other.Prerelease),
            };
        }
    }
}
