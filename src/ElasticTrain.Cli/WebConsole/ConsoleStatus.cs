using ElasticTrain.Coordination;

namespace ElasticTrain.Cli.WebConsole;

/// <summary>The coordinator's view of the job right now, as the console's member table shows it.</summary>
/// <param name="Coordinator">The node whose coordinator answered.</param>
public sealed record ConsoleStatus(long Step, long TotalSteps, long Generation, string Mesh, double SamplesPerSecond, int TargetRanks,
    ConsoleStatus.Member[] Members, string[] Idle, string[] Draining)
{
    /// <param name="Slice">Samples of the last step's global batch.</param>
    /// <param name="SamplesPerSecond">Its measured forward and backward speed.</param>
    public sealed record Member(string Rank, string Node, int Slice, double SamplesPerSecond, int Stage);

    public static ConsoleStatus From(JobStatusReport report)
    {
        return new ConsoleStatus(report.CommittedStep, report.TotalSteps, report.Generation, report.Mesh, report.SamplesPerSecond, report.TargetRanks,
            [.. report.Members.Select(m => report.LoadOf(m) is { } load
                ? new Member(m.ToString(), m.Node.ToString(), load.Slice, load.SamplesPerSecond, load.Stage)
                : new Member(m.ToString(), m.Node.ToString(), 0, 0, 0))],
            [.. report.Idle.Select(r => r.ToString())], [.. report.Draining.Select(r => r.ToString())]);
    }
}
