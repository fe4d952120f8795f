namespace ElasticTrain.Tests.Support;

/// <summary>
/// Runs alone: its tests compare two trainings bit for bit, and libtorch's thread count, which
/// decides the order of its sums, is process-wide; an in-process job of another test class sets it
/// (NodeHost) and would change it between the two.
/// </summary>
[CollectionDefinition(nameof(TorchThreadsCollection), DisableParallelization = true)]
public sealed class TorchThreadsCollection;
