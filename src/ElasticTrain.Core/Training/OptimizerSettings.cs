using System.Globalization;
using Akka.Configuration;
using ElasticTrain.Configuration;

namespace ElasticTrain.Training;

/// <summary>The update rules a job can train with.</summary>
public enum OptimizerKind { AdamW, Adam, Sgd, Lamb, AdaGrad, RmsProp }

/// <summary>
/// The <c>elastictrain.job.optimizer</c> block: which update rule, and its hyper-parameters other
/// than the learning rate and weight decay, which stay <c>elastictrain.job.learning-rate</c> and
/// <c>weight-decay</c> for every rule (one key per choice). Each rule reads only the fields it has.
/// </summary>
/// <param name="Eps">The denominator's guard: PyTorch's default for the rule unless given (LAMB: 1e-6, as in the paper).</param>
/// <param name="Momentum">SGD and RMSprop.</param>
/// <param name="Dampening">SGD.</param>
/// <param name="Nesterov">SGD (needs a momentum and no dampening).</param>
/// <param name="Alpha">RMSprop's smoothing constant.</param>
/// <param name="Centered">RMSprop: divide by the gradient's estimated variance rather than its second moment.</param>
/// <param name="LrDecay">AdaGrad's learning-rate decay.</param>
/// <param name="InitialAccumulator">AdaGrad's starting sum of squares.</param>
/// <param name="DecayBiasesAndNorms">
/// Whether parameters of fewer than two dimensions (biases, norms' gains) get weight decay. The
/// usual recipe excludes them; AdamW, the rule of jobs written before this setting, decays them
/// unless told otherwise (<c>no-decay = auto</c>), so that those jobs keep their curve.
/// </param>
public sealed record OptimizerSettings(
    OptimizerKind Kind,
    double Beta1 = 0.9,
    double Beta2 = 0.999,
    double Eps = 1e-8,
    double Momentum = 0,
    double Dampening = 0,
    bool Nesterov = false,
    double Alpha = 0.99,
    bool Centered = false,
    double LrDecay = 0,
    double InitialAccumulator = 0,
    bool DecayBiasesAndNorms = true)
{
    public const string Section = "elastictrain.job.optimizer";

    /// <summary>Every job before these settings: AdamW with PyTorch's defaults, decaying every parameter.</summary>
    public static readonly OptimizerSettings Default = new(OptimizerKind.AdamW);

    public static readonly IReadOnlyDictionary<string, OptimizerKind> Names = new Dictionary<string, OptimizerKind>(StringComparer.Ordinal)
    {
        ["adamw"] = OptimizerKind.AdamW, ["adam"] = OptimizerKind.Adam, ["sgd"] = OptimizerKind.Sgd,
        ["lamb"] = OptimizerKind.Lamb, ["adagrad"] = OptimizerKind.AdaGrad, ["rmsprop"] = OptimizerKind.RmsProp,
    };

    public string Name => Names.First(n => n.Value == Kind).Key;

    /// <summary>PyTorch's default eps of each rule (LAMB's from You et al.).</summary>
    public static double DefaultEps(OptimizerKind kind) => kind switch
    {
        OptimizerKind.Lamb => 1e-6,
        OptimizerKind.AdaGrad => 1e-10,
        _ => 1e-8,
    };

    /// <exception cref="SettingsException">A bad value, or a key that belongs elsewhere; the message names it.</exception>
    public static OptimizerSettings FromConfig(Config config)
    {
        foreach (var (misplaced, home) in new[] { ("learning-rate", "learning-rate"), ("lr", "learning-rate"), ("weight-decay", "weight-decay") })
            if (config.HasPath($"{Section}.{misplaced}"))
                throw new SettingsException($"{Section}.{misplaced} is not a setting: the rate is elastictrain.job.{home} (--lr) for every optimizer");
        var block = new SettingsReader(config, Section);
        var name = block.OneOf("name", [.. Names.Keys]);
        var kind = Names[name];
        var eps = block.String("eps").Trim() is "auto" ? DefaultEps(kind) : block.Double("eps", 0, 1);
        var settings = new OptimizerSettings(
            Kind: kind,
            Beta1: block.Double("beta1", 0, 0.999999),
            Beta2: block.Double("beta2", 0, 0.999999999),
            Eps: eps,
            Momentum: block.Double("momentum", 0, 0.999999),
            Dampening: block.Double("dampening", 0, 1),
            Nesterov: Bool(block, "nesterov"),
            Alpha: block.Double("alpha", 0, 0.999999999),
            Centered: Bool(block, "centered"),
            LrDecay: block.Double("lr-decay", 0, 1),
            InitialAccumulator: block.Double("initial-accumulator", 0, 1e6),
            DecayBiasesAndNorms: block.OneOf("no-decay", "auto", "none", "biases-and-norms") switch
            {
                "none" => true,
                "biases-and-norms" => false,
                _ => kind == OptimizerKind.AdamW,
            });
        if (settings.Nesterov && (kind != OptimizerKind.Sgd || settings.Momentum <= 0 || settings.Dampening != 0))
            throw new SettingsException($"{Section}.nesterov needs optimizer sgd with a momentum above 0 and no dampening");
        return settings;
    }

    /// <summary>
    /// What of these settings changes the math, in one line: the rule and the hyper-parameters it
    /// reads. Part of the job's identity unless it equals <see cref="Default"/>'s.
    /// </summary>
    public string Canonical
    {
        get
        {
            var fields = new List<string> { Name };
            void Add(string key, double value) => fields.Add($"{key}={value.ToString("R", CultureInfo.InvariantCulture)}");
            switch (Kind)
            {
                case OptimizerKind.AdamW or OptimizerKind.Adam or OptimizerKind.Lamb:
                    Add("beta1", Beta1); Add("beta2", Beta2); Add("eps", Eps); break;
                case OptimizerKind.Sgd:
                    Add("momentum", Momentum); Add("dampening", Dampening); fields.Add($"nesterov={Nesterov}"); break;
                case OptimizerKind.AdaGrad:
                    Add("lr-decay", LrDecay); Add("initial-accumulator", InitialAccumulator); Add("eps", Eps); break;
                case OptimizerKind.RmsProp:
                    Add("alpha", Alpha); Add("eps", Eps); Add("momentum", Momentum); fields.Add($"centered={Centered}"); break;
            }
            fields.Add($"decay-1d={DecayBiasesAndNorms}");
            return string.Join(',', fields);
        }
    }

    private static bool Bool(SettingsReader block, string key) => block.OneOf(key, "true", "false", "on", "off", "yes", "no") is "true" or "on" or "yes";
}
