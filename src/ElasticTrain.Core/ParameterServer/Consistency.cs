namespace ElasticTrain.ParameterServer;

/// <summary>
/// How far apart parameter-server workers may run (the coordinator's StalenessGate enforces it).
/// In the shared vocabulary because it is a job setting (<see cref="ParameterServerSettings"/>).
/// </summary>
public enum Consistency
{
    /// <summary>Bulk-synchronous: every worker runs step k only after every worker finished step k - 1; a shard applies step k once it has every slice of it, so the curve is all-reduce's.</summary>
    Bsp,

    /// <summary>Stale-synchronous: a worker may start up to <c>staleness</c> steps beyond the slowest worker's next step.</summary>
    Ssp,

    /// <summary>Asynchronous: no bound; a worker never waits for another.</summary>
    Asp,
}
