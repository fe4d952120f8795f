using ElasticTrain.Collectives.Transport;

namespace ElasticTrain.Collectives;

/// <summary>The registry of collectives, chosen by name in HOCON (<c>elastictrain.collective</c>).</summary>
public static class Collective
{
    public static readonly string[] Names = ["ring"];

    public static ICollective Create(string name, RankPort port, TimeSpan timeout) => name switch
    {
        "ring" => new RingAllReduce(port, timeout),
        _ => throw new ArgumentException($"unknown collective '{name}' (known: {string.Join(", ", Names)})"),
    };
}
