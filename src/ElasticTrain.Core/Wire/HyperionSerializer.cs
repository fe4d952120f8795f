using Akka.Actor;

using Akka.Util;
using Hyperion;

namespace ElasticTrain.Wire;

/// <summary>
/// Bridges Hyperion into Akka's serialization (the official bridge package is not available to
/// this build). Hyperion writes the runtime type of every object, so records with interface-typed
/// fields round-trip without hand-written formats. <see cref="ISurrogated"/> values (actor
/// references, above all) travel as Akka's own surrogates and are resolved against the receiving
/// system on the way in.
/// </summary>
public sealed class HyperionSerializer : Akka.Serialization.Serializer
{
    /// <summary>Fixed identifier: journals written by one version must stay readable by the next.</summary>
    public const int Id = 741;

    private readonly Hyperion.Serializer _hyperion;

    public HyperionSerializer(ExtendedActorSystem system) : base(system)
    {
        var surrogate = Surrogate.Create<ISurrogated, ISurrogate>(
            from => from.ToSurrogate(system),
            to => to.FromSurrogate(system));
        _hyperion = new Hyperion.Serializer(new SerializerOptions(
            versionTolerance: true,
            preserveObjectReferences: true,
            surrogates: [surrogate],
            serializerFactories: null,
            knownTypes: null,
            ignoreISerializable: false,
            packageNameOverrides: null,
            // Only types of this project and the BCL/Akka types they hold travel; refuses
            // known gadget types on the way in.
            disallowUnsafeTypes: true,
            typeFilter: DisabledTypeFilter.Instance));
    }

    public override int Identifier => Id;

    public override bool IncludeManifest => false;

    public override byte[] ToBinary(object obj)
    {
        using var stream = new MemoryStream();
        _hyperion.Serialize(obj, stream);
        return stream.ToArray();
    }

    public override object FromBinary(byte[] bytes, Type? type)
    {
        using var stream = new MemoryStream(bytes);
        return _hyperion.Deserialize<object>(stream);
    }
}
