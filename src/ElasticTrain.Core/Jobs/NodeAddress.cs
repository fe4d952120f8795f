using ElasticTrain.Configuration;
using ElasticTrain.Wire;

namespace ElasticTrain.Jobs;

/// <summary>
/// A node of the job's cluster, named by the host and port of its Akka endpoint: what operators
/// drain, and what a rank's identity starts with.
/// </summary>
public sealed record NodeAddress(string Host, int Port) : IWireMessage
{
    /// <summary>"HOST:PORT"; throws <see cref="FormatException"/> otherwise.</summary>
    public static NodeAddress Parse(string text) =>
        HostPort.TryParse(text, out var host, out var port) ? new NodeAddress(host, port) : throw new FormatException($"not HOST:PORT: '{text}'");

    public override string ToString() => $"{Host}:{Port}";
}
