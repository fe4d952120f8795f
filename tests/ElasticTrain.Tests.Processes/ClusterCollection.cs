[assembly: CollectionBehavior(DisableTestParallelization = true)]

namespace ElasticTrain.Tests.Processes;

/// <summary>
/// The multi-process tests share one static 1-rank reference run and run one at a time: they
/// measure pauses on a 2-core machine, and two jobs at once would measure each other.
/// </summary>
[CollectionDefinition(Name)]
public sealed class ClusterCollection : ICollectionFixture<ReferenceRun>
{
    public const string Name = "cluster";
}
