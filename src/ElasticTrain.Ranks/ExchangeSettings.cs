namespace ElasticTrain.Ranks;

/// <summary>How a rank exchanges gradients (HOCON <c>elastictrain.collective</c>, <c>exchange-timeout</c>, <c>bucket-size</c>).</summary>
/// <param name="Timeout">How long any one wait on a peer may take before the step fails.</param>
/// <param name="BucketBytes">Gradient bucket size; 0 exchanges everything in one bucket after backward.</param>
public sealed record ExchangeSettings(string Collective, TimeSpan Timeout, long BucketBytes);
