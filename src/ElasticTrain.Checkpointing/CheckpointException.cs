namespace ElasticTrain.Checkpointing;

/// <summary>A checkpoint that is missing, damaged or belongs to another job. One line for the user.</summary>
public sealed class CheckpointException(string message) : Exception(message);
