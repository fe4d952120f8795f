using ElasticTrain.Jobs;
using ElasticTrain.Wire;

namespace ElasticTrain.Coordination;

/// <summary>A node that joins a running job asks what the job is.</summary>
public sealed record GetJob : IWireMessage
{
    public static readonly GetJob Instance = new();
}

/// <summary>The job as the coordinator runs it: a joining node loads the same data and builds the same model.</summary>
public sealed record JobDescription(JobConfig Config, string IdentityHash, string DataFingerprint) : IWireMessage;
