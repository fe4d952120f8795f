namespace ElasticTrain.Collectives;

/// <summary>An exchange could not complete (a peer died or went silent); the step must be replayed.</summary>
public sealed class ExchangeFailedException(string message) : Exception(message);
