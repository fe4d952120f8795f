namespace ElasticTrain.Tests.Support;

/// <summary>
/// Runs alone: its tests compare two trainings bit for bit, computing on the test's own pool
/// thread, and libtorch's thread count, which decides the order of its sums, is kept per thread:
/// a command that another test class runs in-process (an evaluation, the plain loop) sets it on the
/// pool thread it runs on, which may be the one a test continues on after an await.
/// </summary>
[CollectionDefinition(nameof(TorchThreadsCollection), DisableParallelization = true)]
public sealed class TorchThreadsCollection;
