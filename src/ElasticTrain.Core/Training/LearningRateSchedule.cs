using System.Globalization;
using Akka.Configuration;
using ElasticTrain.Configuration;

namespace ElasticTrain.Training;

/// <summary>The shapes a learning rate can take after its warmup.</summary>
public enum ScheduleShape { Constant, Cosine, Linear, Polynomial, Exponential, Step, CosineRestarts }

/// <summary>
/// The learning rate of each step, as a pure function of the step (<see cref="At"/>): a resume, a
/// re-plan or a replayed step computes the same rate without any scheduler state to carry, which
/// is why these are ours and not TorchSharp's stateful schedulers.
/// </summary>
/// <remarks>
/// <para>
/// Step k (1-based: the k-th update) first warms up linearly: for k &lt;= W the rate is
/// peak * k / W, so step W runs at the peak. After it the shape decays over t = k - 1 - W updates
/// (t = 0 at the first step past warmup), with T = decay-steps - W:
/// cosine: min + (peak - min)(1 + cos(pi t / T)) / 2, then min from t = T;
/// polynomial: min + (peak - min)(1 - t / T)^power, then min (linear: power 1);
/// exponential: peak * rate^(t / T), never below min;
/// step: peak * rate^floor(t / step-size), never below min;
/// cosine with warm restarts: cosine over periods of restart-steps updates, each restart-mult
/// times the one before (PyTorch's CosineAnnealingWarmRestarts).
/// </para>
/// <para>
/// Without warmup, step k runs at PyTorch's scheduler value after k - 1 scheduler steps, the order
/// a PyTorch loop calls them in; warmup in front matches PyTorch's SequentialLR of
/// LinearLR(1/W, 1, W - 1) and the shape, with its milestone at W.
/// </para>
/// </remarks>
/// <param name="DecaySteps">The step by which a decaying shape reaches its floor (cosine, polynomial, linear) or its rate's power 1 (exponential).</param>
/// <param name="DecayRate">Exponential: the factor reached after decay-steps; step: the factor applied every step-size steps.</param>
public sealed record LearningRateSchedule(
    ScheduleShape Shape,
    long WarmupSteps = 0,
    double MinLr = 0,
    long DecaySteps = 0,
    double Power = 1,
    double DecayRate = 0.1,
    long StepSize = 1,
    long RestartSteps = 1,
    int RestartMult = 1)
{
    public const string Section = "elastictrain.job.lr-schedule";

    /// <summary>Every job before schedules: the peak rate at every step.</summary>
    public static readonly LearningRateSchedule Constant = new(ScheduleShape.Constant);

    public static readonly IReadOnlyDictionary<string, ScheduleShape> Names = new Dictionary<string, ScheduleShape>(StringComparer.Ordinal)
    {
        ["constant"] = ScheduleShape.Constant, ["cosine"] = ScheduleShape.Cosine, ["linear"] = ScheduleShape.Linear,
        ["polynomial"] = ScheduleShape.Polynomial, ["exponential"] = ScheduleShape.Exponential, ["step"] = ScheduleShape.Step,
        ["cosine-restarts"] = ScheduleShape.CosineRestarts,
    };

    public string Name => Names.First(n => n.Value == Shape).Key;

    /// <summary>Whether the shape decays over <see cref="DecaySteps"/>.</summary>
    public bool UsesDecaySteps => Shape is ScheduleShape.Cosine or ScheduleShape.Linear or ScheduleShape.Polynomial or ScheduleShape.Exponential;

    /// <summary>The learning rate of step <paramref name="step"/> (1-based) for a peak rate of <paramref name="peak"/>.</summary>
    public double At(long step, double peak)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(step, 1);
        if (step <= WarmupSteps) return peak * step / WarmupSteps;
        double t = step - 1 - WarmupSteps, span = DecaySteps - WarmupSteps;
        return Shape switch
        {
            ScheduleShape.Constant => peak,
            ScheduleShape.Cosine => t >= span ? MinLr : MinLr + (peak - MinLr) * (1 + Math.Cos(Math.PI * t / span)) / 2,
            ScheduleShape.Linear => t >= span ? MinLr : MinLr + (peak - MinLr) * (1 - t / span),
            ScheduleShape.Polynomial => t >= span ? MinLr : MinLr + (peak - MinLr) * Math.Pow(1 - t / span, Power),
            ScheduleShape.Exponential => Math.Max(MinLr, peak * Math.Pow(DecayRate, t / span)),
            ScheduleShape.Step => Math.Max(MinLr, peak * Math.Pow(DecayRate, Math.Floor(t / StepSize))),
            ScheduleShape.CosineRestarts => Restarted(t, peak),
            _ => throw new InvalidOperationException($"unknown schedule {Shape}"),
        };
    }

    /// <summary>Where t falls in its restart period, then cosine over that period.</summary>
    private double Restarted(double t, double peak)
    {
        double period = RestartSteps, into = t;
        while (into >= period)
        {
            into -= period;
            period *= RestartMult;
        }
        return MinLr + (peak - MinLr) * (1 + Math.Cos(Math.PI * into / period)) / 2;
    }

    /// <param name="steps">The job's steps: what <c>decay-steps = auto</c> stands for.</param>
    /// <param name="peak">The job's learning rate, which min-lr must not exceed.</param>
    /// <exception cref="SettingsException">A bad value; the message names the key.</exception>
    public static LearningRateSchedule FromConfig(Config config, long steps, double peak)
    {
        var block = new SettingsReader(config, Section);
        var shape = Names[block.OneOf("name", [.. Names.Keys])];
        var warmup = block.Long("warmup-steps", 0);
        var decaySteps = block.String("decay-steps").Trim() is "auto" ? steps : block.Long("decay-steps", 1);
        var schedule = new LearningRateSchedule(
            Shape: shape,
            WarmupSteps: warmup,
            MinLr: block.Double("min-lr", 0, 10),
            DecaySteps: decaySteps,
            Power: block.Double("power", 0, 100),
            DecayRate: block.Double("decay-rate", 0, 1),
            StepSize: block.Long("step-size", 1),
            RestartSteps: block.Long("restart-steps", 1),
            RestartMult: block.Int("restart-mult", 1, 1000));
        if (schedule.MinLr > peak)
            throw new SettingsException($"{Section}.min-lr ({schedule.MinLr}) must not exceed elastictrain.job.learning-rate ({peak})");
        if (schedule.UsesDecaySteps && decaySteps <= warmup)
            throw new SettingsException($"{Section}.decay-steps ({decaySteps}) must be greater than warmup-steps ({warmup}) for the {schedule.Name} schedule");
        return schedule;
    }

    /// <summary>
    /// What of the schedule changes the math, in one line: the shape and the values it reads. Part
    /// of the job's identity unless the schedule is <see cref="Constant"/>, so that a job extended
    /// with more steps keeps its identity only where the schedule does not depend on them.
    /// </summary>
    public string Canonical
    {
        get
        {
            var fields = new List<string> { Name, $"warmup={WarmupSteps}" };
            void Add(string key, double value) => fields.Add($"{key}={value.ToString("R", CultureInfo.InvariantCulture)}");
            if (Shape != ScheduleShape.Constant) Add("min-lr", MinLr);
            if (UsesDecaySteps) fields.Add($"decay-steps={DecaySteps}");
            switch (Shape)
            {
                case ScheduleShape.Polynomial: Add("power", Power); break;
                case ScheduleShape.Exponential: Add("decay-rate", DecayRate); break;
                case ScheduleShape.Step: Add("decay-rate", DecayRate); fields.Add($"step-size={StepSize}"); break;
                case ScheduleShape.CosineRestarts: fields.Add($"restart-steps={RestartSteps}"); fields.Add($"restart-mult={RestartMult}"); break;
            }
            return string.Join(',', fields);
        }
    }

    /// <summary>Whether this schedule gives the peak at every step, as jobs before schedules ran.</summary>
    public bool IsConstant => Shape == ScheduleShape.Constant && WarmupSteps == 0;
}
