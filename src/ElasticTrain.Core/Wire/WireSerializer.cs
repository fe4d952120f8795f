using System.Text.RegularExpressions;
using Akka.Actor;
using Akka.Configuration;
using Hyperion;

namespace ElasticTrain.Wire;

/// <summary>
/// Akka's Hyperion serializer (package Akka.Serialization.Hyperion) under this project's fixed
/// identifier. The package hard-codes its identifier (-5) and ignores
/// <c>akka.actor.serialization-identifiers</c>, so this subclass only pins <see cref="Id"/> and adds
/// a type filter; the Hyperion options come from
/// <c>akka.actor.serialization-settings.elastictrain-wire</c> in reference.conf.
/// </summary>
public sealed partial class WireSerializer : Akka.Serialization.HyperionSerializer
{
    /// <summary>Fixed identifier: journals written by one version must stay readable by the next.</summary>
    public const int Id = 741;

    public WireSerializer(ExtendedActorSystem system, Config config)
        : base(system, WithTypeFilter(Akka.Serialization.HyperionSerializerSettings.Create(config)))
    {
    }

    public override int Identifier => Id;

    private static Akka.Serialization.HyperionSerializerSettings WithTypeFilter(Akka.Serialization.HyperionSerializerSettings settings) =>
        new(settings.PreserveObjectReferences, settings.VersionTolerance, settings.KnownTypesProvider,
            settings.PackageNameOverrides, settings.Surrogates, settings.DisallowUnsafeType, OwnAssembliesFilter.Instance);

    /// <summary>
    /// Admits a type named in incoming bytes only when it, and every generic argument in its name,
    /// comes from this project's, the BCL's or Akka's assemblies. Hyperion consults it when
    /// disallow-unsafe-type is on, after its own list of known gadget types.
    /// </summary>
    internal sealed partial class OwnAssembliesFilter : ITypeFilter
    {
        public static readonly OwnAssembliesFilter Instance = new();

        public bool IsAllowed(string typeName)
        {
            var assemblies = AssemblyName().Matches(typeName);
            return assemblies.Count > 0 && assemblies.All(m => Admitted(m.Groups[1].Value.Trim()));
        }

        private static bool Admitted(string assembly) =>
            assembly is "System.Private.CoreLib" or "mscorlib" or "netstandard" or "Akka"
            || assembly.StartsWith("System.", StringComparison.Ordinal)
            || assembly.StartsWith("Akka.", StringComparison.Ordinal)
            || assembly.StartsWith("ElasticTrain.", StringComparison.Ordinal);

        // The assembly after each type name: before a closing bracket (generic arguments) or at the end.
        [GeneratedRegex(@",\s*([^,\[\]]+?)(?:,[^\[\]]*)?(?=\]|$)")]
        private static partial Regex AssemblyName();
    }
}
