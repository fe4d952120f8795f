using System.Globalization;
using Akka.Configuration;
using ElasticTrain.Configuration;

namespace ElasticTrain.ParameterServer;

/// <summary>
/// <c>elastictrain.ps</c>: how a parameter-server job (<c>elastictrain.collective = ps</c>) keeps its
/// parameters: in how many shards, how far apart its workers may run, whether a stale gradient is
/// compensated, and which nodes host the shards. A job setting: it travels with the job (in
/// <c>TrainingRecipe</c>) to every node. The consistency and the compensation change the math, so
/// they enter the job's identity (<see cref="Canonical"/>); the shard count and the role only say
/// where the same updates run.
/// </summary>
/// <param name="Shards">How many shards hold the parameters; null (auto): one per rank at the start (<see cref="ShardsFor"/>).</param>
/// <param name="Staleness">ssp's bound in steps (see <see cref="Consistency.Ssp"/>); 0 for bsp and asp, which have none.</param>
/// <param name="DcLambda">DC-ASGD's lambda, for the gradients asp and ssp let go stale; 0: no compensation.</param>
/// <param name="Role">The cluster role (<c>akka.cluster.roles</c>) of the nodes that host shards.</param>
/// <param name="Backup">Whether every shard has a backup that takes each step with it (primary-backup); not part of the identity.</param>
public sealed record ParameterServerSettings(int? Shards, Consistency Consistency, int Staleness, double DcLambda, string Role, bool Backup = true)
{
    /// <summary>
    /// The value of <c>elastictrain.collective</c> that makes a job a parameter server's: its ranks
    /// push gradients to shards and pull parameters back instead of summing them in a ring.
    /// </summary>
    public const string Collective = "ps";

    public const string Key = "elastictrain.ps";

    /// <summary>Reads <c>elastictrain.ps</c>; whether the job is in parameter-server mode is <c>elastictrain.collective</c>'s to say.</summary>
    /// <exception cref="SettingsException">A bad value, or a combination that means nothing; the message names the key.</exception>
    public static ParameterServerSettings FromConfig(Config config)
    {
        var reader = new SettingsReader(config, Key);
        var consistency = reader.OneOf("consistency", "bsp", "ssp", "asp") switch
        {
            "ssp" => Consistency.Ssp,
            "asp" => Consistency.Asp,
            _ => Consistency.Bsp,
        };
        // Read (and refused if negative) whatever the mode, but kept only for ssp: the default of 2
        // is always there, so a bsp or asp job cannot be told apart from one that gave it.
        var staleness = reader.Int("staleness", 0, int.MaxValue);
        var lambda = reader.Double("dc-lambda", double.NegativeInfinity, double.PositiveInfinity);
        if (!double.IsFinite(lambda) || lambda < 0)
            throw new SettingsException($"{Key}.dc-lambda must be 0 (off) or more, not {Text(lambda)}");
        if (lambda > 0 && consistency == Consistency.Bsp)
            throw new SettingsException($"{Key}.dc-lambda ({Text(lambda)}) needs {Key}.consistency ssp or asp: under bsp no gradient is stale, so there is nothing to compensate");
        var role = reader.String("role").Trim();
        if (role.Length == 0)
            throw new SettingsException($"{Key}.role must name the cluster role of the nodes that host shards (every node has 'node')");
        return new ParameterServerSettings(
            reader.AutoInt("shards", 1, int.MaxValue),
            consistency,
            consistency == Consistency.Ssp ? staleness : 0,
            lambda,
            role,
            reader.OneOf("backup", "on", "off") == "on");
    }

    /// <summary>The shard count of a job that starts with <paramref name="ranks"/> ranks: as set, or (auto) one per rank, at least 1.</summary>
    public int ShardsFor(int ranks) => Shards ?? Math.Max(1, ranks);

    /// <summary>
    /// What changes the math, as it enters the identity: the consistency (ssp with its staleness)
    /// and the compensation when on, e.g. <c>ssp:2,dc=0.04</c>.
    /// </summary>
    public string Canonical
    {
        get
        {
            var consistency = Consistency == Consistency.Ssp ? $"ssp:{Staleness}" : Name;
            return DcLambda > 0 ? $"{consistency},dc={DcLambda.ToString("R", CultureInfo.InvariantCulture)}" : consistency;
        }
    }

    /// <summary>For the start of a job, e.g. <c>parameter server (ssp(2), 4 shards, dc-lambda 0.04)</c>.</summary>
    public string Describe()
    {
        var parts = new List<string>
        {
            Consistency == Consistency.Ssp ? $"ssp({Staleness})" : Name,
            Shards is { } shards ? $"{shards} shard{(shards == 1 ? "" : "s")}" : "a shard per rank",
        };
        if (DcLambda > 0) parts.Add($"dc-lambda {Text(DcLambda)}");
        if (!Backup) parts.Add("no backups");
        return $"parameter server ({string.Join(", ", parts)})";
    }

    private string Name => Consistency.ToString().ToLowerInvariant();

    private static string Text(double value) => value.ToString(CultureInfo.InvariantCulture);
}
